// The same suite with Express 4 (the peer range covers 4.21+ and 5.x).
import stickyroute from '@stickyroute/express'
import express from 'express4'
import { serveGateway } from '../helpers/listen.js'
import type { StickyOptions } from '@stickyroute/core'
import type { ControlledGateway, GatewaySettings } from './harness.js'
import { runLifecycle } from './lifecycle.js'
import { runConformance } from './suite.js'

async function start (options: StickyOptions, { prefix }: GatewaySettings): Promise<ControlledGateway> {
  const app = express()
  const sticky = stickyroute(options)
  if (prefix === '') app.use(sticky)
  else app.use(prefix, sticky)
  return { ...await serveGateway(app), balancer: sticky.balancer }
}
runConformance({ name: 'express 4', start })
runLifecycle({ name: 'express 4', start })
