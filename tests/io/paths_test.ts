import { isAbsolutePath, parentDir, resolveAgainst } from "../../lib/io/paths.ts";
import { resolve } from "node:path";
import { assertEquals } from "../data/assert.ts";

Deno.test("paths: resolveAgainst agrees with node:path's resolve on POSIX paths", () => {
  const cases: [string, string][] = [
    ["/a/b", "c"],
    ["/a/b/", "./c/../d"],
    ["/a/b", "../../../x"],
    ["/a/b", "/abs/./y/"],
    ["/", "z"],
    ["/a", ""],
    ["/a//b", "c//d/."],
    ["rel/base", "f.txt"],
  ];
  for (const [base, p] of cases) assertEquals(resolveAgainst(base, p), resolve(base, p), `${base} + ${p}`);
});

Deno.test("paths: a drive prefix is absolute; parentDir of names, nested paths and the root", () => {
  assertEquals(isAbsolutePath("C:\\data\\x.mp4"), true);
  assertEquals(isAbsolutePath("c:/data"), true);
  assertEquals(isAbsolutePath("data/x"), false);
  assertEquals(resolveAgainst("/home", "C:/data/../x"), "C:/x");
  assertEquals(parentDir("a.txt"), ".");
  assertEquals(parentDir("/a.txt"), "/");
  assertEquals(parentDir("/x/y/z.bin"), "/x/y");
  assertEquals(parentDir("x/y/"), "x");
});
