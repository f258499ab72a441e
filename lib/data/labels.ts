// Label CSVs (`id,name`, spec §5.5). The reference reads them with pandas, so names are taken verbatim
// from a real CSV parse: SSv2 quotes names that contain commas, most files end lines in CRLF, and the
// row order is the class order the logits are indexed by — hence the strict 0..C-1 id check.

/** Thrown for a malformed label file; the message starts with `file:line:`. */
export class LabelCsvError extends Error {
  constructor(readonly fileName: string, readonly line: number, message: string) {
    super(`${fileName}:${line}: ${message}`);
    this.name = "LabelCsvError";
  }
}

interface CsvRecord {
  fields: string[];
  /** 1-based line the record starts on */
  line: number;
}

/** RFC 4180 records; CRLF, LF and lone CR all end a record outside quotes. */
function parseCsv(text: string, fileName: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // a BOM written by spreadsheet tools is not part of "id"
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new LabelCsvError(fileName, quoteLine, "unterminated quoted field");
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          throw new LabelCsvError(
            fileName,
            line,
            `unexpected ${JSON.stringify(text[i])} after a quoted field`,
          );
        }
      } else {
        const s = i;
        while (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") i++;
        field = text.slice(s, i);
        if (field.includes('"')) {
          throw new LabelCsvError(fileName, line, `stray quote in unquoted field ${JSON.stringify(field)}`);
        }
      }
      fields.push(field);
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === "\r") i++;
    if (text[i] === "\n") i++;
    line++;
    // blank lines (a trailing newline, an empty last line) are not records, as in pandas
    if (!(fields.length === 1 && fields[0] === "")) records.push({ fields, line: start });
  }
  return records;
}

/**
 * The class names of a label CSV in id order. Throws {@link LabelCsvError} naming the file and line
 * for a wrong header, a row without exactly two fields, or ids that are not 0, 1, 2, … in order.
 */
export function parseLabelCsv(text: string, fileName: string): string[] {
  const records = parseCsv(text, fileName);
  if (records.length === 0) throw new LabelCsvError(fileName, 1, "empty file (expected a header `id,name`)");
  const [header, ...rows] = records;
  const h = header.fields.map((f) => f.trim());
  if (h.length !== 2 || h[0] !== "id" || h[1] !== "name") {
    throw new LabelCsvError(
      fileName,
      header.line,
      `expected the header "id,name", got ${JSON.stringify(h.join(","))}`,
    );
  }
  if (rows.length === 0) throw new LabelCsvError(fileName, header.line, "no classes after the header");
  return rows.map((r, index) => {
    if (r.fields.length !== 2) {
      throw new LabelCsvError(fileName, r.line, `expected 2 fields (id,name), got ${r.fields.length}`);
    }
    const [idText, name] = r.fields;
    if (!/^\s*\d+\s*$/.test(idText) || Number(idText) !== index) {
      throw new LabelCsvError(
        fileName,
        r.line,
        `id ${JSON.stringify(idText)} out of order: ids must be 0..C-1 in row order (expected ${index})`,
      );
    }
    if (name.trim() === "") throw new LabelCsvError(fileName, r.line, `class ${index} has an empty name`);
    return name;
  });
}

/** {@link parseLabelCsv} of a file on disk. */
export async function readLabelCsv(path: string): Promise<string[]> {
  return parseLabelCsv(await Deno.readTextFile(path), path);
}
