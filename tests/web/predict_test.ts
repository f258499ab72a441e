// The predict page: the form lists the store's checkpoints; a POST gives the same top-5 as predict() run
// directly (in the worker), with the sampled frames as PNGs, and leaves no upload behind; bad input gets a
// 400 page that says what is wrong; weights outside the store and the weights folder get a 403; user
// strings come back escaped; predictions run off the request thread in a queue of bounded length.

import { basename } from "node:path";
import { predict } from "../../lib/predict/predict.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { MAX_UPLOAD_BYTES, predictRoutes, type PredictRoutesOptions } from "../../web/predict.tsx";
import { createDashboard } from "../../web/server.tsx";
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

const STUB = new URL("./stub_predict_worker.ts", import.meta.url);

/** The routes, closed (worker stopped) after `fn` whatever happens. */
async function withRoutes(
  opts: PredictRoutesOptions,
  fn: (app: ReturnType<typeof predictRoutes>["app"]) => Promise<void>,
): Promise<void> {
  const routes = predictRoutes(opts);
  try {
    await fn(routes.app);
  } finally {
    routes.close();
  }
}

async function post(
  app: ReturnType<typeof predictRoutes>["app"],
  body: FormData | Uint8Array,
  headers?: HeadersInit,
  path = "/",
) {
  const res = await app.request(path, { method: "POST", body: body as BodyInit, headers });
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
  const routes = predictRoutes({ store });
  const res = await routes.app.request("/");
  routes.close();
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
  await withRoutes({ store, weightsDir: f.dir }, async (app) => {
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

    // a weights file in the weights folder, named relative to it, is accepted; fewer than 5 classes give
    // fewer rows
    const byPath = await post(
      app,
      form({ checkpointPath: basename(f.checkpoint), labels: "red, blue", frames: "4", template: "{name}" }, {
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
});

Deno.test("predict page: class names and paths come back escaped", async () => {
  const { f, store } = await setup();
  await withRoutes({ store }, async (app) => {
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
    expect(bad.status === 403, `status ${bad.status}`);
    expect(!bad.html.includes("<script>alert"), "a path in an error came back raw");
    expect(
      bad.html.includes("&lt;script>alert(1)&lt;/script>") || bad.html.includes("&lt;script&gt;"),
      "path missing",
    );
  });
});

Deno.test("predict page: bad input gets a 400 page saying what is wrong", async () => {
  const { f, store } = await setup();
  await withRoutes({ store }, async (app) => {
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
      ["empty label", { checkpoint: f.checkpoint, labels: "a,,b" }, video, "class names: name 1 is empty"],
      [
        "repeated label",
        { checkpoint: f.checkpoint, labels: 'a, "b, c", A' },
        video,
        "repeats class 0",
      ],
      ["unclosed quote", { checkpoint: f.checkpoint, labels: 'a, "b' }, video, "unterminated quoted name"],
      ["no checkpoint", { labels: "a" }, video, "choose a checkpoint"],
      ["frames in hex", { checkpoint: f.checkpoint, labels: "a", frames: "0x4" }, video, "frames must be"],
      [
        "bad frames",
        { checkpoint: f.checkpoint, labels: "a", frames: "abc" },
        video,
        "frames must be an integer",
      ],
      [
        "bad template",
        { checkpoint: f.checkpoint, labels: "a", template: "a photo" },
        video,
        "has no {name}",
      ],
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
      expect(
        r.html.includes(message),
        `${what}: message "${message}" not in the page: ${r.html.match(/class="error"[^<]*<[^<]*/)?.[0]}`,
      );
      expect(r.html.includes("<form"), `${what}: the form is not shown again`);
    }
    const notMultipart = await post(app, new TextEncoder().encode("hello"), { "content-type": "text/plain" });
    expect(
      notMultipart.status === 400 && notMultipart.html.includes("multipart"),
      `plain body: ${notMultipart.status}`,
    );
  });
});

Deno.test("predict page: oversize uploads are refused with 400 (the file's size and the body's)", async () => {
  const { f, store } = await setup();
  expect(MAX_UPLOAD_BYTES === 200_000_000, `limit ${MAX_UPLOAD_BYTES}`);
  const bytes = await Deno.readFile(f.videos[0]);
  await withRoutes({ store, maxUploadBytes: bytes.length - 1 }, async (app) => {
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
});

Deno.test("predict page: no GPU → 503 with the reason", async () => {
  const { f, store } = await setup();
  await withRoutes({ store, workerUrl: STUB }, async (app) => {
    const bytes = await Deno.readFile(f.videos[0]);
    const r = await post(app, form({ checkpoint: f.checkpoint, labels: "nogpu" }, { bytes, name: "v.mp4" }));
    expect(
      r.status === 503 && r.html.includes("no adapter &lt;here>"),
      `${r.status}: ${r.html.slice(0, 300)}`,
    );
  });
});

Deno.test("predict page: weights only from the store's checkpoints or the weights folder; all else 403", async () => {
  const { f, store } = await setup();
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "vifi-weights-" }));
  const dir = `${tmp}/weights`;
  const SECRET = `TOP-SECRET-${crypto.randomUUID()}`;
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  await Deno.mkdir(`${dir}_evil`);
  await Deno.writeTextFile(`${tmp}/secret.safetensors`, SECRET);
  await Deno.writeTextFile(`${dir}_evil/x.pt`, SECRET);
  await Deno.writeTextFile(`${dir}/model.safetensors`, "weights");
  await Deno.writeTextFile(`${dir}/sub/deep.pt`, "weights");
  await Deno.symlink(`${tmp}/secret.safetensors`, `${dir}/escape.safetensors`);
  await Deno.symlink(tmp, `${dir}/up`);
  await Deno.symlink(`${dir}/model.safetensors`, `${dir}/alias.safetensors`);
  const video = { bytes: await Deno.readFile(f.videos[0]), name: "v.mp4" };
  try {
    await withRoutes({ store, weightsDir: dir, workerUrl: STUB }, async (app) => {
      const refused = [
        "/etc/shadow",
        "/proc/self/environ",
        "/etc/passwd",
        `${tmp}/secret.safetensors`,
        "../secret.safetensors",
        `${dir}/../secret.safetensors`,
        "sub/../../secret.safetensors",
        "escape.safetensors", // a link inside pointing out
        `${dir}/escape.safetensors`,
        "up/secret.safetensors", // through a linked folder
        `${dir}_evil/x.pt`, // a sibling whose name starts like the folder's
        `${dir}`,
        `${f.dir}/unfinished.safetensors`, // a checkpoint of a run that has not finished
      ];
      for (const path of refused) {
        for (const field of ["checkpointPath", "checkpoint"]) {
          const r = await post(app, form({ [field]: path, labels: "a" }, video));
          expect(r.status === 403, `${field}=${path}: status ${r.status}: ${r.html.slice(0, 300)}`);
          expect(r.html.includes("is not one of the results store's checkpoints"), `${path}: message`);
          expect(r.html.includes(`nor a file in the weights folder ${dir}`), `${path}: names the folder`);
          for (const leak of [SECRET, "root:", "PATH="]) expect(!r.html.includes(leak), `${path}: echoed`);
        }
      }
      // allowed: what the worker is handed is the file's real path
      const model = `${dir}/model.safetensors`;
      const allowed: [string, string][] = [
        ["model.safetensors", model],
        [model, model],
        ["./sub/../model.safetensors", model],
        ["alias.safetensors", model],
        ["sub/deep.pt", `${dir}/sub/deep.pt`],
        [f.checkpoint, f.checkpoint],
      ];
      for (const [path, real] of allowed) {
        const r = await post(app, form({ checkpointPath: path, labels: "a" }, video));
        expect(r.status === 200, `${path}: status ${r.status}: ${r.html.slice(0, 300)}`);
        expect(rows(r.html)[0]?.label === real, `${path}: the worker got ${rows(r.html)[0]?.label}`);
      }
      const missing = await post(app, form({ checkpointPath: "nope.pt", labels: "a" }, video));
      expect(
        missing.status === 400 && missing.html.includes("there is no file"),
        `missing: ${missing.status}`,
      );
      const folder = await post(app, form({ checkpointPath: "sub", labels: "a" }, video));
      expect(folder.status === 400 && folder.html.includes("is not a file"), `a folder: ${folder.status}`);
      // the form lists the folder's own files, not links out of it
      const page = await (await app.request("/")).text();
      expect(page.includes(`value="${model}"`), "the folder's file is not offered");
      expect(!page.includes("escape.safetensors"), "a link out of the folder is offered");
    });
    // without a weights folder, a file that exists is refused the same way, with how to allow it
    await withRoutes({ store, workerUrl: STUB }, async (app) => {
      const r = await post(app, form({ checkpointPath: `${dir}/model.safetensors`, labels: "a" }, video));
      expect(r.status === 403 && r.html.includes("--weights-dir DIR"), `no folder: ${r.status}`);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

async function until(what: string, pred: () => boolean): Promise<void> {
  // generous: a worker's first start type-checks its module on a machine that may be busy
  const deadline = Date.now() + 120_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("predict page: a prediction runs off the request thread; other pages answer meanwhile", async () => {
  const { f, store } = await setup();
  const tmp = await Deno.makeTempDir({ prefix: "vifi-predict-q-" });
  const predict = predictRoutes({ store, workerUrl: STUB });
  const dash = createDashboard({ store, predict: predict.app });
  try {
    const video = { bytes: await Deno.readFile(f.videos[0]), name: "v.mp4" };
    let settled = false;
    const slow = post(
      dash.app,
      form({ checkpoint: f.checkpoint, labels: `block, ${tmp}/release, ${tmp}/started` }, video),
      undefined,
      "/predict",
    ).finally(() => settled = true);
    await until("the prediction to start", () => exists(`${tmp}/started`));
    for (const path of ["/runs", "/", "/predict"]) {
      const page = await dash.app.request(path);
      expect(page.status === 200, `${path}: ${page.status}`);
      await page.text();
      expect(!settled, `${path} waited for the prediction to finish`);
    }
    await Deno.writeTextFile(`${tmp}/release`, "");
    const r = await slow;
    expect(r.status === 200 && rows(r.html)[0]?.label === f.checkpoint, `the prediction: ${r.status}`);
    // on the request thread, the job would have held the pages (and this test) until its deadline
    expect(rows(r.html)[1]?.label === "released", `the job ended by ${rows(r.html)[1]?.label}`);
  } finally {
    predict.close();
    dash.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("predict page: a full queue answers 503 at once; it frees as predictions finish", async () => {
  const { f, store } = await setup();
  const tmp = await Deno.makeTempDir({ prefix: "vifi-predict-q-" });
  const video = { bytes: await Deno.readFile(f.videos[0]), name: "v.mp4" };
  try {
    await withRoutes({ store, workerUrl: STUB, maxQueue: 2 }, async (app) => {
      const block = (n: number) =>
        post(
          app,
          form({ checkpoint: f.checkpoint, labels: `block, ${tmp}/release, ${tmp}/started${n}` }, video),
        );
      const first = block(1), second = block(2);
      // one worker takes the jobs in the order they reach the queue, and the two uploads race there: either
      // may be the one running, and the other then waits behind it until the release
      await until("a prediction to start", () => exists(`${tmp}/started1`) || exists(`${tmp}/started2`));
      const asked = performance.now();
      const res = await app.request("/", {
        method: "POST",
        body: form({ checkpoint: f.checkpoint, labels: "a" }, video),
      });
      const full = await res.text();
      if (res.status !== 503) {
        const early = await Promise.race([
          first,
          second,
          new Promise<null>((ok) => setTimeout(() => ok(null), 0)),
        ]);
        const ended = early ? rows(early.html)[1]?.label : "pending";
        console.error(
          `third answered ${res.status} after ${
            (performance.now() - asked).toFixed(0)
          } ms; of the two before it ` +
            `${early ? `one had answered ${early.status} (${ended})` : "both were pending"}`,
        );
        console.error(full.slice(0, 600));
      }
      expect(res.status === 503, `third: ${res.status}`);
      expect(
        full.includes("the prediction queue is full (2 predictions running or waiting"),
        full.slice(0, 400),
      );
      expect(res.headers.get("retry-after") === "30", "no Retry-After");
      await Deno.writeTextFile(`${tmp}/release`, "");
      for (const r of [await first, await second]) expect(r.status === 200, `queued: ${r.status}`);
      const after = await post(app, form({ checkpoint: f.checkpoint, labels: "a" }, video));
      expect(after.status === 200, `after the queue drained: ${after.status}`);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("predict page: GET reads the store's checkpoints in one query, not run by run", async () => {
  const { store } = await setup();
  const calls: string[] = [];
  // every method call on the store, recorded; private fields need the real store as `this`
  const counted = new Proxy(store, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => (calls.push(String(key)), v.apply(target, args));
    },
  });
  await withRoutes({ store: counted }, async (app) => {
    const res = await app.request("/");
    expect(res.status === 200, `status ${res.status}`);
    await res.text();
    const reads = calls.filter((c) => c !== "changeStamp");
    expect(
      reads.length === 1 && reads[0] === "doneCheckpoints",
      `GET /predict called ${JSON.stringify(calls)}`,
    );
  });
});

Deno.test("predict page: close the store", () => {
  store?.close();
  if (fx) Deno.removeSync(fx.dir, { recursive: true });
});
