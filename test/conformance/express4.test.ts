// The same suite with Express 4 (the peer range covers 4.21+ and 5.x).
import stickyroute from '@stickyroute/express'
import express from 'express4'
import type { AddressInfo } from 'node:net'
import { listen } from '../helpers/listen.js'
import { runConformance } from './suite.js'

runConformance({
  name: 'express 4',
  async start (options, { prefix }) {
    const app = express()
    if (prefix === '') app.use(stickyroute(options))
    else app.use(prefix, stickyroute(options))
    const server = await listen(app)
    return {
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>(resolve => server.close(() => resolve()))
      }
    }
  }
})
