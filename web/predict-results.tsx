/** @jsxImportSource npm:preact@11.2.0 */
// The answer's two parts as both predict paths show them: the top-k table and the frames the model saw. The
// server's page (predict-page.tsx) and the in-browser island (islands/PredictInBrowser.tsx) render the same
// markup, so the dashboard's styles and the tests' selectors (td.prob[data-prob]) serve both.

import type { VNode } from "npm:preact@11.2.0";

export interface ThumbnailView {
  src: string;
  index: number;
  width: number;
  height: number;
}

export function PredictionTable({ predictions }: { predictions: { label: string; prob: number }[] }): VNode {
  return (
    <table class="predictions">
      <thead>
        <tr>
          <th>#</th>
          <th>class</th>
          <th>probability</th>
        </tr>
      </thead>
      <tbody>
        {predictions.map((p, i) => (
          <tr>
            <td>{i + 1}</td>
            <td class="label">{p.label}</td>
            <td class="prob" data-prob={String(p.prob)}>{(100 * p.prob).toFixed(2)} %</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Thumbnails({ thumbnails }: { thumbnails: ThumbnailView[] }): VNode {
  return (
    <div class="thumbnails">
      {thumbnails.map((t) => (
        <figure class="thumb">
          <img src={t.src} width={t.width} height={t.height} alt={`frame ${t.index}`} />
          <figcaption>frame {t.index}</figcaption>
        </figure>
      ))}
    </div>
  );
}
