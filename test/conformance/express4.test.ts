// The same suite with Express 4 (the peer range covers 4.21+ and 5.x).
import stickyroute from '@stickyroute/express'
import express from 'express4'
import { serveGateway } from '../helpers/listen.js'
import { runConformance } from './suite.js'

runConformance({
  name: 'express 4',
  async start (options, { prefix }) {
    const app = express()
    if (prefix === '') app.use(stickyroute(options))
    else app.use(prefix, stickyroute(options))
    return await serveGateway(app)
  }
})
