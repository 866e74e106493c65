import { createCustomGateway } from '../../examples/custom-gateway/proxy.js'
import { serveGateway } from '../helpers/listen.js'
import { runLifecycle } from './lifecycle.js'
import { runConformance } from './suite.js'

const name = 'custom-gateway (core on plain node:http)'
runConformance({
  name,
  start: async (options, { prefix }) => await serveGateway(createCustomGateway({ ...options, prefix }))
})
runLifecycle({
  name,
  async start (options, { prefix }) {
    const gateway = createCustomGateway({ ...options, prefix })
    return { ...await serveGateway(gateway), balancer: gateway.balancer }
  }
})
