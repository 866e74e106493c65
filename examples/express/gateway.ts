/**
 * Sticky sessions in front of the members, with Express and @stickyroute/express.
 *
 *   npm run --silent example:express
 *   STICKY_UPSTREAMS=node1=http://127.0.0.1:8081,node2=http://127.0.0.1:8082 STICKY_ROUTE_COOKIE=ROUTEID npm run --silent example:express
 *
 * The variables are described in ../README.md; without STICKY_UPSTREAMS, demo members are started.
 */
import stickyroute from '@stickyroute/express'
import express from 'express'
import { createServer } from 'node:http'
import { runExample, serve } from '../shared/run.js'

await runExample('express', async ({ members, options, port, host }) => {
  const sticky = stickyroute({ ...options, members })
  const app = express()
  app.use(sticky)
  const server = createServer(app)
  // Express never sees WebSocket upgrades: hand them to the balancer, which sends them to the client's member.
  server.on('upgrade', sticky.upgrade)
  return await serve(server, port, host)
})
