// The repository explains itself: comments cite the upstream's behaviour as `docs/upstream.md §N`, and
// every such §N (or range §A–B) is a numbered section of that file; nothing cites a document that is
// not in the repository ("spec §…" of the reference spec). docs/architecture.md names only files that exist.

import { join } from "node:path";
import { existsSync } from "node:fs";
import { assert, assertEquals } from "../data/assert.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Section numbers of a markdown file's numbered headings ("## 7 Data pipeline" → "7", "### 7.2 …" → "7.2"). */
export function sectionNumbers(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\s/gm)) out.add(m[1]);
  return out;
}

/** The cited section numbers in a text: each `docs/upstream.md §N` and the `, §M` / `and §M` after it. */
export function citedSections(text: string): string[] {
  const out: string[] = [];
  const tok = String.raw`§(\d+(?:\.\d+)*)(?:–(\d+(?:\.\d+)*))?`;
  for (
    const m of text.matchAll(new RegExp(String.raw`docs/upstream\.md ${tok}((?:(?:, | and )${tok})*)`, "g"))
  ) {
    out.push(m[1], ...(m[2] ? [m[2]] : []));
    for (const r of m[3].matchAll(new RegExp(tok, "g"))) out.push(r[1], ...(r[2] ? [r[2]] : []));
  }
  return out;
}

async function repositoryText(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(root, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "fixtures") await walk(path);
      else if (e.isFile && /\.(tsx?|md|py)$/.test(e.name)) {
        files.set(path, await Deno.readTextFile(join(root, path)));
      }
    }
  };
  for (const dir of ["lib", "web", "tests", "scripts", "experiments", "docs"]) await walk(dir);
  for (const f of ["mod.ts", "README.md"]) files.set(f, await Deno.readTextFile(join(root, f)));
  return files;
}

Deno.test("citations read: a section, a list, a range; headings numbered at any depth", () => {
  assertEquals(citedSections("x (docs/upstream.md §6.3, §9) and docs/upstream.md §7.2–7.3 and §8"), [
    "6.3",
    "9",
    "7.2",
    "7.3",
    "8",
  ]);
  assertEquals([...sectionNumbers("# Title\n## 7 Data\n### 7.2 Sampling\ntext ## 8 not a heading\n")], [
    "7",
    "7.2",
  ]);
});

Deno.test("every docs/upstream.md §N cited in the repository is a section of it; no 'spec §' is left", async () => {
  const files = await repositoryText();
  const sections = sectionNumbers(files.get("docs/upstream.md") ?? "");
  assert(sections.size > 30, `docs/upstream.md has ${sections.size} numbered sections`);
  const dangling: string[] = [];
  const foreign: string[] = [];
  let cited = 0;
  for (const [path, text] of files) {
    for (const n of citedSections(text)) {
      cited++;
      if (!sections.has(n)) dangling.push(`${path}: §${n}`);
    }
    // this file names the old form in its own comments and tests
    if (path !== "tests/architecture/docs_test.ts" && /\bspec §/.test(text)) foreign.push(path);
  }
  assert(cited > 40, `only ${cited} citations found`);
  assertEquals(dangling, [], "citations of sections docs/upstream.md does not have");
  assertEquals(foreign, [], "files citing the reference spec, which is not in the repository");
});

Deno.test("docs/architecture.md names only files that exist", async () => {
  const doc = await Deno.readTextFile(join(root, "docs/architecture.md"));
  const paths = [
    ...doc.matchAll(/`((?:lib|web|tests|docs|kernels|scripts|experiments)\/[\w./-]+\.(?:tsx?|md|wgsl))`/g),
  ]
    .map((m) => m[1]);
  assert(paths.length > 30, `only ${paths.length} paths found in docs/architecture.md`);
  const missing = [...new Set(paths)].filter((p) => !existsSync(join(root, p)));
  assertEquals(missing, [], "paths in docs/architecture.md that are not in the repository");
});
