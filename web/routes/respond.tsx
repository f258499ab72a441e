/** @jsxImportSource npm:preact@11.2.0 */
// How the dashboard's routes answer with a page: a rendered document, and the not-found page every
// unknown address, run or protocol gets.

import type { VNode } from "npm:preact@11.2.0";
import { Page, renderPage } from "../html.tsx";

/** A server-rendered page as the response. */
export function html(vnode: VNode, status: 200 | 404 | 400 = 200): Response {
  return new Response(renderPage(vnode), { status, headers: { "content-type": "text/html; charset=utf-8" } });
}

export function NotFound({ what }: { what: string }): VNode {
  return (
    <Page title="not found">
      <h1>Not found</h1>
      <p>{what}</p>
      <p>
        <a href="/">back to the leaderboards</a>
      </p>
    </Page>
  );
}
