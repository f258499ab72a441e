// The label CSV reader: pandas-compatible parsing (quotes, CRLF) and errors that name file and line.

import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { LabelCsvError, LabelListError, parseLabelCsv, parseLabelList } from "../../lib/data/labels.ts";

const LABELS = decodeURIComponent(
  new URL("../../../shared/reference/vificlip-data/labels/", import.meta.url).pathname,
);
const haveLabels = await Deno.stat(LABELS).then(() => true, () => false);
if (!haveLabels) console.warn(`label file tests skipped: no reference label CSVs in ${LABELS}`);

function error(text: string, file = "x.csv"): LabelCsvError {
  try {
    parseLabelCsv(text, file);
  } catch (e) {
    if (e instanceof LabelCsvError) return e;
    throw e;
  }
  throw new Error("expected a LabelCsvError");
}

Deno.test("parseLabelCsv: quotes, doubled quotes, CRLF / LF / CR, blank trailing lines, BOM", () => {
  const text =
    '\ufeffid,name\r\n0,"Removing something, revealing something behind"\r\n1,massaging person\'s head\r\n' +
    '2,"say ""hi"""\n3,wood burning (art)\r4,"two\r\nlines"\r\n\r\n';
  assertEquals(parseLabelCsv(text, "t.csv"), [
    "Removing something, revealing something behind",
    "massaging person's head",
    'say "hi"',
    "wood burning (art)",
    "two\r\nlines",
  ]);
  assertEquals(parseLabelCsv("id,name\n0,a\n1,b", "no-final-newline.csv"), ["a", "b"]);
});

Deno.test("parseLabelCsv: errors name the file and the line", () => {
  const cases: [string, RegExp][] = [
    ["", /^e\.csv:1: empty file/],
    ["idx,name\n0,a\n", /^e\.csv:1: expected the header "id,name"/],
    ["id,name\n", /^e\.csv:1: no classes/],
    ["id,name\n0,a\n2,b\n", /^e\.csv:3: id "2" out of order.*expected 1/],
    ["id,name\n0,a\n1,b,c\n", /^e\.csv:3: expected 2 fields/],
    ['id,name\n0,"a\n\n1,b\n', /^e\.csv:2: unterminated quoted field/],
    ['id,name\n0,"multi\nline"\n1,"x"y\n', /^e\.csv:4: unexpected "y" after a quoted field/],
    ['id,name\n0,a"b\n', /^e\.csv:2: stray quote/],
    ["id,name\r\n0,a\r\n1,\r\n", /^e\.csv:3: class 1 has an empty name/],
    ["id,name\n0,a\nx,b\n", /^e\.csv:3: id "x"/],
  ];
  for (const [text, want] of cases) {
    const e = error(text, "e.csv");
    assert(want.test(e.message), `${JSON.stringify(text)}: ${e.message}`);
  }
  throws(() => parseLabelCsv("id,name\n1,a\n", "f.csv"), LabelCsvError);
});

Deno.test({
  name: "parseLabelCsv: every shipped label file, class counts as in the spec",
  ignore: !haveLabels,
  fn: async () => {
    const want: Record<string, number> = {
      "kinetics_400_labels.csv": 400,
      "kinetics_600_labels.csv": 600,
      "hmdb_51_labels.csv": 51,
      "ucf_101_labels.csv": 101,
      "ssv2_labels.csv": 174,
      "ZS_split1_K600.csv": 160,
    };
    let files = 0;
    for await (const e of Deno.readDir(LABELS)) {
      if (!e.name.endsWith(".csv")) continue;
      files++;
      const names = parseLabelCsv(await Deno.readTextFile(LABELS + e.name), e.name);
      if (e.name in want) assertEquals(names.length, want[e.name], e.name);
      for (const n of names) assert(!/[\r\n"]/.test(n) && n === n.trim(), `${e.name}: ${JSON.stringify(n)}`);
    }
    assertEquals(files, 16);
    const ssv2 = parseLabelCsv(await Deno.readTextFile(LABELS + "ssv2_labels.csv"), "ssv2_labels.csv");
    assert(ssv2.includes("Removing something, revealing something behind"));
    const k400 = parseLabelCsv(await Deno.readTextFile(LABELS + "kinetics_400_labels.csv"), "k400");
    assertEquals([k400[0], k400.at(-1)], ["abseiling", "zumba"]);
  },
});

Deno.test("parseLabelCsv: a repeated class name is refused, naming the line and both classes", () => {
  const e = error('id,name\n0,run\n1,"jump, high"\n2,Run\n', "d.csv");
  assert(/^d\.csv:4: class 2 "Run" repeats class 0 "run"/.test(e.message), e.message);
  const exact = error("id,name\n0,a\n1,b\n2,b\n", "d.csv");
  assert(/^d\.csv:4: class 2 "b" repeats class 1 "b"/.test(exact.message), exact.message);
});

Deno.test("parseLabelList: CSV quoting for names with commas, trimmed plain names", () => {
  assertEquals(parseLabelList('"a, b",c'), ["a, b", "c"]);
  assertEquals(parseLabelList(' "say ""hi""" , x y ,z'), ['say "hi"', "x y", "z"]);
  assertEquals(parseLabelList("red"), ["red"]);
  assertEquals(parseLabelList('" padded "'), [" padded "]);
});

Deno.test("parseLabelList: empty, repeated and badly quoted names are refused with the option's name", () => {
  const cases: [string, RegExp][] = [
    ["a,,b", /^--labels: name 1 is empty/],
    ["a,b,", /^--labels: name 2 is empty/],
    ['"a, b",c," a,  B "', /^--labels: class 2 " a, {2}B " repeats class 0 "a, b"/],
    ["walk,Walk", /^--labels: class 1 "Walk" repeats class 0 "walk" \(the same prompt once lowercased\)/],
    ['"a, b', /^--labels: unterminated quoted name/],
    ['"a"b,c', /^--labels: unexpected "b" after the quoted name/],
    ['a"b,c', /^--labels: stray quote/],
  ];
  for (const [text, want] of cases) {
    let msg = "";
    try {
      parseLabelList(text);
    } catch (e) {
      assert(e instanceof LabelListError, `${text}: ${e}`);
      msg = e.message;
    }
    assert(want.test(msg), `${JSON.stringify(text)}: got ${JSON.stringify(msg)}`);
    assert(!msg.includes("\n"), msg);
  }
});
