// Label CSVs (`id,name`, docs/upstream.md §7.5). The reference reads them with pandas, so names are taken verbatim
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
 * The key two class names are the same prompt under: CLIP's tokenizer lowercases and collapses whitespace,
 * so "Run" and " run" give one text embedding and the logits could not tell the classes apart.
 */
function nameKey(name: string): string {
  return name.trim().replace(/\s+/g, " ").toLowerCase();
}

/** The index of the first earlier name that `names[i]` repeats, for every repeat, in order. */
function repeats(names: string[]): { index: number; first: number }[] {
  const seen = new Map<string, number>();
  const out: { index: number; first: number }[] = [];
  names.forEach((n, index) => {
    const first = seen.get(nameKey(n));
    if (first === undefined) seen.set(nameKey(n), index);
    else out.push({ index, first });
  });
  return out;
}

function repeatMessage(names: string[], r: { index: number; first: number }): string {
  const same = names[r.index] === names[r.first] ? "" : " (the same prompt once lowercased)";
  return `class ${r.index} ${JSON.stringify(names[r.index])} repeats class ${r.first} ` +
    `${JSON.stringify(names[r.first])}${same}: class names must be distinct`;
}

/**
 * The class names of a label CSV in id order. Throws {@link LabelCsvError} naming the file and line
 * for a wrong header, a row without exactly two fields, ids that are not 0, 1, 2, … in order, or a
 * name that repeats an earlier one.
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
  const names = rows.map((r, index) => {
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
  const dup = repeats(names)[0];
  if (dup) throw new LabelCsvError(fileName, rows[dup.index].line, repeatMessage(names, dup));
  return names;
}

/** A malformed `--labels` list; the message starts with the option's name. */
export class LabelListError extends Error {
  constructor(what: string, message: string) {
    super(`${what}: ${message}`);
    this.name = "LabelListError";
  }
}

/**
 * Class names from one comma-separated line with CSV quoting: `"a, b",c` is two names, `""` inside quotes
 * is a quote. Unquoted names are trimmed; quoted ones are kept verbatim (blanks around the quotes are not
 * part of the name). Empty and repeated names are refused, naming them.
 */
export function parseLabelList(list: string, what = "--labels"): string[] {
  const fail = (msg: string): never => {
    throw new LabelListError(what, `${msg} in ${JSON.stringify(list)}`);
  };
  const names: string[] = [];
  const n = list.length;
  let i = 0;
  for (;;) {
    while (list[i] === " " || list[i] === "\t") i++;
    let name: string;
    if (list[i] === '"') {
      name = "";
      for (i++;; i++) {
        if (i >= n) fail("unterminated quoted name");
        if (list[i] === '"') {
          if (list[i + 1] !== '"') break;
          i++;
        }
        name += list[i];
      }
      i++;
      while (list[i] === " " || list[i] === "\t") i++;
      if (i < n && list[i] !== ",") {
        fail(`unexpected ${JSON.stringify(list[i])} after the quoted name "${name}"`);
      }
    } else {
      const end = list.indexOf(",", i) < 0 ? n : list.indexOf(",", i);
      name = list.slice(i, end).trim();
      if (name.includes('"')) fail(`stray quote in ${JSON.stringify(name)} (quote the whole name)`);
      i = end;
    }
    if (name.trim() === "") fail(`name ${names.length} is empty`);
    names.push(name);
    if (i >= n) break;
    i++; // the comma
  }
  const dup = repeats(names)[0];
  if (dup) fail(repeatMessage(names, dup));
  return names;
}

/** {@link parseLabelCsv} of a file on disk. */
export async function readLabelCsv(path: string): Promise<string[]> {
  return parseLabelCsv(await Deno.readTextFile(path), path);
}
