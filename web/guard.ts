// Request checks and response headers every dashboard page gets. The dashboard has no login: what keeps
// other web sites out is that a browser only sends them here under this server's own name. A page on
// evil.example that rebinds its DNS name to 127.0.0.1 reaches this port with `Host: evil.example`
// (refused: not a name this server was started on), and a cross-site form post carries the other site's
// `Origin` (refused). The headers stop the pages being framed, sniffed or made to run foreign code.

import type { MiddlewareHandler } from "npm:hono@4.13.19";

/**
 * Self only. Images may also be data: URLs (the predict page's frame thumbnails) and blob: URLs (the
 * chart PNG export draws the SVG through an <img> from a blob); nothing inline runs or styles.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // not "no-referrer": under it a browser sends `Origin: null` with the page's own form posts, which the
  // guard must refuse; "same-origin" keeps the origin here and tells other sites nothing
  "referrer-policy": "same-origin",
};

const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);

function hostPort(host: string, port: number): string[] {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const name = h.includes(":") ? `[${h}]` : h;
  // a browser leaves the port out of Host (and Origin) when it is the scheme's default
  return port === 80 ? [`${name}:80`, name] : [`${name}:${port}`];
}

/**
 * The Host values a request may carry for a server bound to `host`:`port`: the loopback names, the
 * address given, and for a wildcard bind (0.0.0.0, ::) every address of this machine and its name.
 */
export function allowedHostsFor(host: string, port: number): string[] {
  const names = new Set(["127.0.0.1", "localhost", host]);
  if (host === "localhost" || host === "::1") names.add("::1");
  if (WILDCARD.has(host)) {
    try {
      for (const i of Deno.networkInterfaces()) names.add(i.address);
    } catch { /* no --allow-sys: loopback names and the bind address only */ }
    try {
      names.add(Deno.hostname());
    } catch { /* as above */ }
  }
  return [...names].flatMap((n) => hostPort(n, port));
}

function refuse(why: string): Response {
  return new Response(`vifi dashboard: ${why}\n`, {
    status: 403,
    headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
  });
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Refuses (403) a request whose Host is not one of `allowed()` (when given), whose Origin names another
 * server, or (for writes) whose Sec-Fetch-Site says another site sent it. Without `allowed`, an Origin
 * must match the request's own address. No Origin at all is what a browser sends for a plain GET.
 */
export function requestGuard(allowed?: () => readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const host = (c.req.header("host") ?? "").toLowerCase();
    const hosts = allowed ? allowed() : [new URL(c.req.url).host.toLowerCase()];
    if (allowed && !hosts.includes(host)) {
      return refuse(
        `Host "${host.slice(0, 100)}" is not an address this dashboard was started on (${hosts.join(", ")})`,
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`)) {
      return refuse(`a request from another site (Origin ${origin.slice(0, 100)}) is not accepted`);
    }
    const site = c.req.header("sec-fetch-site");
    if (UNSAFE.has(c.req.method) && site !== undefined && site !== "same-origin" && site !== "none") {
      return refuse(`a ${c.req.method} sent from another site (Sec-Fetch-Site: ${site}) is not accepted`);
    }
    await next();
  };
}

/** Adds SECURITY_HEADERS to every response, pages, errors and streams alike. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  };
}
