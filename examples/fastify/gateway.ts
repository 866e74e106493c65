/**
 * Sticky sessions in front of the members, with Fastify and @stickyroute/fastify.
 *
 *   npm run --silent example:fastify
 *   STICKY_UPSTREAMS=node1=http://127.0.0.1:8081,node2=http://127.0.0.1:8082 STICKY_ROUTE_COOKIE=ROUTEID npm run --silent example:fastify
 *
 * The variables are described in ../README.md; without STICKY_UPSTREAMS, demo members are started.
 */
import stickyroute from '@stickyroute/fastify'
import Fastify from 'fastify'
import { isMain, runExample, type StartGateway } from '../shared/run.js'

export const startFastifyGateway: StartGateway = async ({ members, options, port, host }) => {
  const app = Fastify({ logger: false })
  await app.register(stickyroute, { ...options, members })
  await app.listen({ port, host })
  return { server: app.server, close: async () => { await app.close() } }
}

if (isMain(import.meta.url)) await runExample('fastify', startFastifyGateway)
