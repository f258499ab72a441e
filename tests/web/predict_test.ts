// The predict page: the form lists the store's checkpoints; a POST gives the same top-5 as predict() run
// directly, with the sampled frames as PNGs, and leaves no upload behind; bad input gets a 400 page that
// says what is wrong; user strings come back escaped.

import { predict } from "../../lib/cli/predict.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { MAX_UPLOAD_BYTES, predictRoutes } from "../../web/predict.tsx";
import { expect, type Fixture, makeFixture } from "../cli/fixture.ts";

let fx: Fixture | undefined;
let store: ResultsStore | undefined;
async function setup(): Promise<{ f: Fixture; store: ResultsStore }> {
  fx ??= await makeFixture();
  if (!store) {
    store = ResultsStore.open(`${fx.dir}/results.db`);
    const run = store.startRun({
      experiment: "tiny",
      protocol: { kind: "fully-supervised", dataset: "synthetic" },
      variant: "vifi",
      config: {},
      commit: null,
      seed: 0,
      device: "test",
    });
    store.addCheckpoint(run, { epoch: 1, kind: "best", path: fx.checkpoint, top1: 50 });
    store.finishRun(run, { status: "done" });
    // a running run's checkpoint is not offered
    const other = store.startRun({
      experiment: "unfinished",
      protocol: { kind: "fully-supervised" },
      variant: "vifi",
      config: {},
      commit: null,
      seed: 0,
      device: "test",
    });
    store.addCheckpoint(other, { epoch: 0, kind: "last", path: `${fx.dir}/unfinished.safetensors` });
  }
  return { f: fx, store };
}

const LABELS = ["red", "blue", "up", "left", "circle", "green"];

function form(
  fields: Record<string, string>,
  video?: { bytes: Uint8Array; name: string },
): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.set(k, v);
  if (video) {
    fd.set("video", new File([video.bytes as Uint8Array<ArrayBuffer>], video.name, { type: "video/mp4" }));
  }
  return fd;
}

async function post(
  app: ReturnType<typeof predictRoutes>,
  body: FormData | Uint8Array,
  headers?: HeadersInit,
) {
  const res = await app.request("/", { method: "POST", body: body as BodyInit, headers });
  return { status: res.status, html: await res.text() };
}

function rows(html: string): { label: string; prob: number }[] {
  return [...html.matchAll(/<td class="label">(.*?)<\/td><td class="prob" data-prob="([^"]+)"/g)].map((
    m,
  ) => ({
    label: m[1],
    prob: Number(m[2]),
  }));
}

function uploadsLeft(): string[] {
  const dir = Deno.env.get("TMPDIR") ?? "/tmp";
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("vifi-upload-"));
}

Deno.test("predict page: GET lists the done runs' checkpoints in a plain multipart form", async () => {
  const { f, store } = await setup();
  const res = await predictRoutes({ store }).request("/");
  const html = await res.text();
  expect(res.status === 200, `status ${res.status}`);
  expect(html.startsWith("<!doctype html>") && html.includes("</html>"), "not a full document");
  expect(/<form[^>]*method="post"[^>]*enctype="multipart\/form-data"/.test(html), "no multipart form");
  expect(html.includes(`value="${f.checkpoint}"`), "the done run's checkpoint is not offered");
  expect(!html.includes("unfinished.safetensors"), "a running run's checkpoint is offered");
  for (const name of ["video", "labels", "checkpointPath", "frames", "clips", "crops"]) {
    expect(html.includes(`name="${name}"`), `no ${name} field`);
  }
  expect(!html.includes("<script"), "the form should not need JavaScript");
});

Deno.test("predict page: POST gives predict()'s top-5 with thumbnails, and removes the upload", async () => {
  const { f, store } = await setup();
  const app = predictRoutes({ store });
  const bytes = await Deno.readFile(f.videos[0]);
  const before = uploadsLeft();
  const { status, html } = await post(
    app,
    form({ checkpoint: f.checkpoint, labels: LABELS.join(", "), frames: "4", template: "{name}" }, {
      bytes,
      name: "clip.mp4",
    }),
  );
  expect(status === 200, `status ${status}: ${html.slice(0, 500)}`);
  const got = rows(html);
  const want = await predict(f.videos[0], {
    weights: f.checkpoint,
    labels: LABELS,
    frames: 4,
    template: "{name}",
    top: 5,
  });
  expect(got.length === 5 && got.length === want.predictions.length, `${got.length} rows`);
  let sum = 0;
  got.forEach((r, i) => {
    sum += r.prob;
    expect(r.label === want.predictions[i].label, `row ${i}: ${r.label} vs ${want.predictions[i].label}`);
    expect(
      Math.abs(r.prob - want.predictions[i].prob) < 1e-6,
      `row ${i}: ${r.prob} vs ${want.predictions[i].prob}`,
    );
    if (i > 0) expect(got[i - 1].prob >= r.prob, "rows not sorted");
  });
  expect(sum <= 1 + 1e-6 && sum > 0, `top-5 probabilities sum to ${sum}`);
  const thumbs = [...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)];
  expect(thumbs.length === 4, `${thumbs.length} thumbnails for 4 frames`);
  const png = Uint8Array.from(atob(thumbs[0][1]), (ch) => ch.charCodeAt(0));
  expect(png[1] === 0x50 && png[2] === 0x4e && png[3] === 0x47, "thumbnail is not a PNG");
  expect(uploadsLeft().length === before.length, "the uploaded video was left in the temp directory");

  // a weights file given by path, not in the store but on disk, is accepted; fewer than 5 classes give
  // fewer rows
  const byPath = await post(
    app,
    form({ checkpointPath: f.checkpoint, labels: "red, blue", frames: "4", template: "{name}" }, {
      bytes,
      name: "clip.mp4",
    }),
  );
  expect(byPath.status === 200, `by path: status ${byPath.status}`);
  const two = rows(byPath.html);
  expect(
    two.length === 2 && Math.abs(two[0].prob + two[1].prob - 1) < 1e-5,
    `two classes: ${JSON.stringify(two)}`,
  );
});

Deno.test("predict page: class names and paths come back escaped", async () => {
  const { f, store } = await setup();
  const app = predictRoutes({ store });
  const bytes = await Deno.readFile(f.videos[0]);
  const ok = await post(
    app,
    form({ checkpoint: f.checkpoint, labels: "<b>x</b>, red", frames: "2", template: "{name}" }, {
      bytes,
      name: "<i>v</i>.mp4",
    }),
  );
  expect(ok.status === 200, `status ${ok.status}: ${ok.html.slice(0, 300)}`);
  expect(!ok.html.includes("<b>x</b>") && !ok.html.includes("<i>v</i>"), "user markup came back raw");
  expect(
    ok.html.includes("&lt;b>x&lt;/b>") || ok.html.includes("&lt;b&gt;x&lt;/b&gt;"),
    "escaped label missing",
  );
  expect(rows(ok.html).some((r) => r.label.includes("&lt;b")), "the escaped class is not a row");

  const bad = await post(
    app,
    form({ checkpointPath: "<script>alert(1)</script>", labels: "a" }, { bytes, name: "v.mp4" }),
  );
  expect(bad.status === 400, `status ${bad.status}`);
  expect(!bad.html.includes("<script>alert"), "a path in an error came back raw");
  expect(
    bad.html.includes("&lt;script>alert(1)&lt;/script>") || bad.html.includes("&lt;script&gt;"),
    "path missing",
  );
});

Deno.test("predict page: bad input gets a 400 page saying what is wrong", async () => {
  const { f, store } = await setup();
  const app = predictRoutes({ store });
  const bytes = await Deno.readFile(f.videos[0]);
  const video = { bytes, name: "v.mp4" };
  const cases: [string, Record<string, string>, typeof video | undefined, string][] = [
    ["no file", { checkpoint: f.checkpoint, labels: "a, b" }, undefined, "no video uploaded"],
    [
      "empty file",
      { checkpoint: f.checkpoint, labels: "a" },
      { bytes: new Uint8Array(0), name: "e.mp4" },
      "no video",
    ],
    ["no labels", { checkpoint: f.checkpoint, labels: " " }, video, "no class names"],
    ["missing labels field", { checkpoint: f.checkpoint }, video, "no class names"],
    ["empty label", { checkpoint: f.checkpoint, labels: "a,,b" }, video, "empty class name"],
    ["no checkpoint", { labels: "a" }, video, "choose a checkpoint"],
    [
      "unknown checkpoint",
      { checkpointPath: `${f.dir}/nope.safetensors`, labels: "a" },
      video,
      "is not one of the results store's checkpoints",
    ],
    [
      "running run's checkpoint",
      { checkpoint: `${f.dir}/unfinished.safetensors`, labels: "a" },
      video,
      "is not one of the results store's checkpoints",
    ],
    [
      "bad frames",
      { checkpoint: f.checkpoint, labels: "a", frames: "abc" },
      video,
      "frames must be an integer",
    ],
    ["bad template", { checkpoint: f.checkpoint, labels: "a", template: "a photo" }, video, "has no {name}"],
    ["bad crops", { checkpoint: f.checkpoint, labels: "a", crops: "2" }, video, "crops must be 1 or 3"],
    ["not a video", { checkpoint: f.checkpoint, labels: "a" }, {
      bytes: new Uint8Array(64).fill(7),
      name: "x.mp4",
    }, "x.mp4"],
  ];
  for (const [what, fields, v, message] of cases) {
    const r = await post(app, form(fields, v));
    expect(r.status === 400, `${what}: status ${r.status}: ${r.html.slice(0, 400)}`);
    expect(r.html.includes('class="error"'), `${what}: no error shown`);
    expect(r.html.includes(message), `${what}: message "${message}" not in the page`);
    expect(r.html.includes("<form"), `${what}: the form is not shown again`);
  }
  const notMultipart = await post(app, new TextEncoder().encode("hello"), { "content-type": "text/plain" });
  expect(
    notMultipart.status === 400 && notMultipart.html.includes("multipart"),
    `plain body: ${notMultipart.status}`,
  );
});

Deno.test("predict page: oversize uploads are refused with 400 (the file's size and the body's)", async () => {
  const { f, store } = await setup();
  expect(MAX_UPLOAD_BYTES === 200_000_000, `limit ${MAX_UPLOAD_BYTES}`);
  const bytes = await Deno.readFile(f.videos[0]);
  const app = predictRoutes({ store, maxUploadBytes: bytes.length - 1 });
  const r = await post(app, form({ checkpoint: f.checkpoint, labels: "a" }, { bytes, name: "v.mp4" }));
  expect(
    r.status === 400 && r.html.includes("over the"),
    `file over the limit: ${r.status} ${r.html.slice(0, 300)}`,
  );
  // a body far over the limit is cut off by the body limit before it is parsed
  const big = { bytes: new Uint8Array(bytes.length + 2_000_000), name: "big.mp4" };
  const r2 = await post(app, form({ checkpoint: f.checkpoint, labels: "a" }, big));
  expect(r2.status === 400 && r2.html.includes("larger than"), `body over the limit: ${r2.status}`);
});

Deno.test("predict page: no GPU → 503 with the reason, before anything is run", async () => {
  const { f, store } = await setup();
  const app = predictRoutes({ store, runtime: () => Promise.reject(new Error("no adapter <here>")) });
  const bytes = await Deno.readFile(f.videos[0]);
  const r = await post(app, form({ checkpoint: f.checkpoint, labels: "a" }, { bytes, name: "v.mp4" }));
  expect(r.status === 503 && r.html.includes("no adapter &lt;here>"), `${r.status}: ${r.html.slice(0, 300)}`);
});

Deno.test("predict page: close the store", () => {
  store?.close();
  if (fx) Deno.removeSync(fx.dir, { recursive: true });
});
