import { startExpress } from '../helpers/gateways.js'
import { runLifecycle } from './lifecycle.js'
import { runConformance } from './suite.js'

runConformance({ name: 'express', start: startExpress })
runLifecycle({ name: 'express', start: startExpress })
