import { bybusyness } from './bybusyness.js'
import { byrequests } from './byrequests.js'
import { bytraffic } from './bytraffic.js'
import type { LbMethod, LbMethodName } from './lb-method.js'

export type { LbMethod, LbMethodName } from './lb-method.js'
export { bybusyness, byrequests, bytraffic }

/** The built-in methods by their Apache names. */
export const LB_METHODS: Readonly<Record<LbMethodName, LbMethod>> = Object.freeze({ byrequests, bybusyness, bytraffic })
