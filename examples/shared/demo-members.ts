/**
 * Stand-in application servers for the examples: each keeps its own in-memory sessions, Tomcat
 * style, with the member's route after the session id (`JSESSIONID=5f2c9a1b.node2`), so both
 * Apache methods work against them: Method 2 (the balancer's ROUTEID cookie) and Method 1
 * (STICKY_SESSION='JSESSIONID|jsessionid').
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface DemoMembers {
  members: Array<{ route: string, url: string }>
  close: () => Promise<void>
}

function sessionCookie (req: IncomingMessage): string | undefined {
  const match = /(?:^|;\s*)JSESSIONID=([^;]*)/.exec(req.headers.cookie ?? '')
  return match?.[1]
}

function demoMember (route: string): Server {
  const visits = new Map<string, number>() // session id (with its route) -> visits
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    res.setHeader('x-member', route)
    if (req.url === '/health') {
      res.end(`${route} ok\n`)
      return
    }
    let session = sessionCookie(req)
    // A session id this member did not issue (no id, or another member's): start a new session.
    if (session === undefined || !visits.has(session)) {
      session = `${randomBytes(4).toString('hex')}.${route}`
      res.setHeader('set-cookie', `JSESSIONID=${session}; Path=/; HttpOnly`)
    }
    const count = (visits.get(session) ?? 0) + 1
    visits.set(session, count)
    res.end(`${route}: visit ${count} of session ${session.slice(0, session.indexOf('.'))}\n`)
  })
}

/** Starts one demo member per route on 127.0.0.1, each on a port of its own. */
export async function startDemoMembers (routes: readonly string[] = ['node1', 'node2', 'node3']): Promise<DemoMembers> {
  const servers = await Promise.all(routes.map(async route => {
    const server = demoMember(route)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    return server
  }))
  return {
    members: servers.map((server, i) => ({ route: routes[i] ?? '', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
    async close () {
      await Promise.all(servers.map(async server => {
        server.closeAllConnections()
        await new Promise<void>(resolve => server.close(() => resolve()))
      }))
    }
  }
}
