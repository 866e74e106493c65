import { createCustomGateway } from '../../examples/custom-gateway/proxy.js'
import { serveGateway } from '../helpers/listen.js'
import { runConformance } from './suite.js'

runConformance({
  name: 'custom-gateway (core on plain node:http)',
  start: async (options, { prefix }) => await serveGateway(createCustomGateway({ ...options, prefix }))
})
