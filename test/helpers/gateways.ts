/**
 * Starting the Fastify plugin and the Express middleware as gateways on 127.0.0.1:0, shared by
 * the conformance suite (test/conformance/) and the Apache differential test (test/apache/).
 */
import stickyroute from '@stickyroute/express'
import fastifyStickyroute from '@stickyroute/fastify'
import type { StickyOptions } from '@stickyroute/core'
import express from 'express'
import Fastify from 'fastify'
import { createServer } from 'node:http'
import type { ControlledGateway, GatewaySettings } from '../conformance/harness.js'
import { serveGateway } from './listen.js'

/** The Fastify plugin registered under `prefix`, next to a `/health` route; its balancer is the app's `stickyroute` decorator. */
export async function startFastify (options: StickyOptions, { prefix }: GatewaySettings): Promise<ControlledGateway> {
  const app = Fastify()
  app.get('/health', async () => 'gateway ok\n')
  await app.register(fastifyStickyroute, { ...options, prefix })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  return { origin, balancer: app.stickyroute, close: async () => { await app.close() } }
}

/**
 * The Express middleware mounted at `prefix`, next to a `/health` route, with WebSocket upgrades
 * wired the one way the README gives: `server.on('upgrade', middleware.upgrade)` before the
 * server's first request, and `mountPath` set to the mount path.
 */
export async function startExpress (options: StickyOptions, { prefix }: GatewaySettings): Promise<ControlledGateway> {
  const app = express()
  app.get('/health', (_req, res) => { res.send('gateway ok\n') })
  const sticky = stickyroute({ ...options, mountPath: prefix })
  if (prefix === '') app.use(sticky)
  else app.use(prefix, sticky)
  const server = createServer(app)
  server.on('upgrade', sticky.upgrade)
  return { ...await serveGateway(server), balancer: sticky.balancer }
}
