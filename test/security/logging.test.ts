/**
 * Security model, "what a log line shows": the decision the adapters hand to the application
 * (`request.sticky` in Fastify, `req.sticky` in Express), serialised the way a logger does, shows
 * the chosen member and route and whether it changed; never the raw session id the client sent,
 * and never an opaque-route key.
 */
import express from 'express'
import Fastify from 'fastify'
import { createServer } from 'node:http'
import t from 'tap'
import stickyroute from '@stickyroute/express'
import fastifyStickyroute from '@stickyroute/fastify'
import { routeToken, type StickyOptions } from '@stickyroute/core'
import { Upstreams } from '../helpers/upstreams.js'
import { serveGateway } from '../helpers/listen.js'
import { exchange } from '../helpers/raw-http.js'
import type { Gateway } from '../conformance/harness.js'

const KEY = 'logging-test-key-0123456789abcdefghijkl'
const OLD = 'logging-test-old-key-0123456789abcdefgh'
const SECRET = 'S3CR3TSESSION'

type Start = (options: StickyOptions, lines: string[]) => Promise<Gateway>

const STARTS: Array<[string, Start]> = [
  ['fastify', async (options, lines) => {
    const app = Fastify()
    app.addHook('onResponse', async request => { lines.push(JSON.stringify(request.sticky)) })
    await app.register(fastifyStickyroute, options)
    const origin = await app.listen({ port: 0, host: '127.0.0.1' })
    return { origin, close: async () => { await app.close() } }
  }],
  ['express', async (options, lines) => {
    const app = express()
    app.use((req, res, next) => {
      res.on('finish', () => { lines.push(JSON.stringify(req.sticky)) })
      next()
    })
    app.use(stickyroute(options))
    return await serveGateway(createServer(app))
  }]
]

for (const [name, start] of STARTS) {
  for (const opaque of [false, true]) {
    t.test(`${name}${opaque ? ' (opaque routes)' : ''}: a logged decision has no raw session id and no key`, async t => {
      const upstreams = await Upstreams.start(['r1', 'r2'])
      const lines: string[] = []
      const options: StickyOptions = { members: upstreams.members, routeCookie: opaque ? { name: 'ROUTEID', opaque: { key: KEY, previousKeys: [OLD] } } : 'ROUTEID' }
      const gw = await start(options, lines)
      t.teardown(async () => {
        await gw.close()
        await upstreams.close()
      })
      const route = opaque ? routeToken(OLD, 'r2') : 'r2'
      const outcome = await exchange(gw.origin, { target: `/?ROUTEID=${SECRET}.${route}`, headers: [['Host', new URL(gw.origin).host], ['Cookie', `ROUTEID=${SECRET}.${route}`]] })
      t.ok(outcome.ok && outcome.response.status === 200, 'answered')
      // onResponse / finish may run just after the client got the response.
      for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
      const line = lines[0] ?? ''
      t.match(JSON.parse(line), { ok: true, route: 'r2', routeChanged: false, clientRoute: 'r2', routeSource: 'url', member: { route: 'r2' } }, 'the decision is logged')
      t.notOk(line.includes(SECRET), 'no raw session id')
      for (const key of [KEY, OLD]) t.notOk(line.includes(key), 'no key')
      if (opaque) t.notOk(line.includes(route), 'not the token the client sent')
    })
  }
}
