/**
 * Starting the Fastify plugin and the Express middleware as gateways on 127.0.0.1:0, shared by
 * the conformance suite (test/conformance/) and the Apache differential test (test/apache/).
 */
import stickyroute from '@stickyroute/express'
import fastifyStickyroute from '@stickyroute/fastify'
import type { StickyOptions } from '@stickyroute/core'
import express from 'express'
import Fastify from 'fastify'
import type { Gateway, GatewaySettings } from '../conformance/harness.js'
import { serveGateway } from './listen.js'

/** The Fastify plugin registered under `prefix`, next to a `/health` route. */
export async function startFastify (options: StickyOptions, { prefix }: GatewaySettings): Promise<Gateway> {
  const app = Fastify()
  app.get('/health', async () => 'gateway ok\n')
  await app.register(fastifyStickyroute, { ...options, prefix })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  return { origin, close: async () => { await app.close() } }
}

/** The Express middleware mounted at `prefix`, next to a `/health` route. */
export async function startExpress (options: StickyOptions, { prefix }: GatewaySettings): Promise<Gateway> {
  const app = express()
  app.get('/health', (_req, res) => { res.send('gateway ok\n') })
  if (prefix === '') app.use(stickyroute(options))
  else app.use(prefix, stickyroute(options))
  return await serveGateway(app)
}
