import { startExpress } from '../helpers/gateways.js'
import { runConformance } from './suite.js'

runConformance({ name: 'express', start: startExpress })
