/**
 * Members for the hostile-input tests: like test/helpers/upstreams.ts, but they accept request
 * heads up to 64 KiB. A gateway forwards the client's Cookie header and adds its own
 * X-Forwarded-* lines, so a request just under the gateway's own 16 KiB limit would be over a
 * default member's: this way the gateway's limit is the one under test.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface BigHeaderMember {
  readonly route: string
  readonly url: string
  close: () => Promise<void>
}

export const MEMBER_MAX_HEADER_SIZE = 64 * 1024

/** Starts one member per route on 127.0.0.1:0. It answers 200 with `x-member: <route>` and echoes the URL and the Cookie header length. */
export async function startBigHeaderMembers (routes: readonly string[]): Promise<BigHeaderMember[]> {
  return await Promise.all(routes.map(async route => {
    const server: Server = createServer({ maxHeaderSize: MEMBER_MAX_HEADER_SIZE }, (req, res) => {
      req.resume()
      req.on('end', () => {
        const cookie = req.headers.cookie
        res.writeHead(200, { 'content-type': 'application/json', 'x-member': route })
        res.end(JSON.stringify({ route, url: req.url, cookieLength: cookie === undefined ? -1 : cookie.length }))
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    const { port } = server.address() as AddressInfo
    return {
      route,
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>(resolve => server.close(() => resolve()))
      }
    }
  }))
}
