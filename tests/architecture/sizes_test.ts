// Files and functions a reader can hold in mind: no source file over FILE_LINES lines except the
// binary-format parsers named in PARSERS (an interpreter's opcode table reads best in one place), and
// no function, method or arrow function over FUNCTION_LINES lines anywhere, tests included. Functions
// are found with the TypeScript parser, so a brace inside a string or a template does not fool the count.

import ts from "npm:typescript@5.6.3";
import { join } from "node:path";
import { assert, assertEquals } from "../data/assert.ts";

const FILE_LINES = 600;
const FUNCTION_LINES = 120;
/** parsers of binary formats, allowed to be longer than FILE_LINES (their functions are not) */
const PARSERS = new Set(["lib/io/pickle.ts", "lib/io/torch.ts"]);

const root = new URL("../../", import.meta.url).pathname;

interface LongFunction {
  where: string;
  lines: number;
}

/** Functions of one source text longer than `limit` lines, named as `path:line name`. */
export function longFunctions(path: string, source: string, limit: number): LongFunction[] {
  const kind = path.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true, kind);
  const found: LongFunction[] = [];
  const lineOf = (pos: number) => file.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const lines = lineOf(node.getEnd()) - lineOf(node.getStart()) + 1;
      if (lines > limit) found.push({ where: `${path}:${lineOf(node.getStart())} ${nameOf(node)}`, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function nameOf(node: ts.Node): string {
  const named = (node as { name?: ts.Node }).name;
  if (named) return named.getText();
  if (node.parent && ts.isVariableDeclaration(node.parent)) return node.parent.name.getText();
  if (node.parent && ts.isPropertyAssignment(node.parent)) return node.parent.name.getText();
  return "(anonymous)";
}

async function sourceFiles(): Promise<string[]> {
  const out: string[] = ["mod.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(root, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "fixtures") await walk(path);
      else if (e.isFile && /\.tsx?$/.test(e.name)) out.push(path);
    }
  };
  for (const dir of ["lib", "web", "tests", "scripts", "experiments"]) await walk(dir);
  return out.sort();
}

Deno.test("the function counter sees declarations, methods, arrows and nested functions; not strings", () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = "}{";`).join("\n");
  const src = [
    `export function big() {\n${body(8)}\n}`,
    `class K {\n  m() {\n${body(3)}\n  }\n}`,
    `const arrow = () => {\n${body(9)}\n  const inner = function () {\n${body(8)}\n  };\n};`,
    `function small() {\n  return "{{{";\n}`,
  ].join("\n");
  const found = longFunctions("x.ts", src, 9).map((f) => `${f.where} ${f.lines}`);
  assertEquals(found, ["x.ts:1 big 10", "x.ts:18 arrow 21", "x.ts:28 inner 10"]);
});

Deno.test(`no source file over ${FILE_LINES} lines (parsers excepted), no function over ${FUNCTION_LINES}`, async () => {
  const files = await sourceFiles();
  assert(files.length > 200, `only ${files.length} files found under ${root}`);
  const longFiles: string[] = [];
  const longFns: string[] = [];
  for (const path of files) {
    const source = await Deno.readTextFile(join(root, path));
    const lines = source.split("\n").length - (source.endsWith("\n") ? 1 : 0);
    if (lines > FILE_LINES && !PARSERS.has(path)) longFiles.push(`${path} (${lines} lines)`);
    for (const f of longFunctions(path, source, FUNCTION_LINES)) {
      longFns.push(`${f.where} (${f.lines} lines)`);
    }
  }
  assertEquals(longFiles, [], "files over the limit");
  assertEquals(longFns, [], "functions over the limit");
});
