/**
 * Cases taken from shared/spec/apache-behaviour.md, shared by the conformance suite and the
 * Apache parity test. Members are named as in the spec.
 */
export const R1 = 'tomcat_instance_1'
export const R2 = 'tomcat_instance_2'
export const R3 = 'tomcat_instance_3'
export const ROUTES = [R1, R2, R3]

/** "Reading the route": cookies that leave the client without a route (it is balanced, and Method 2 re-pins it). */
export const NO_ROUTE_COOKIES: ReadonlyArray<readonly [string, string]> = [
  ['no separator', `ROUTEID=${R2}`],
  ['empty value', 'ROUTEID='],
  ['unknown route', 'ROUTEID=.tomcat_instance_9'],
  ['route in another letter case', `ROUTEID=.${R2.toUpperCase()}`],
  ['extra text after the route', `ROUTEID=.${R2}.x`],
  ['quoted value', `ROUTEID=".${R2}"`],
  ['cookie name in another case', `routeid=.${R2}`],
  ['a longer name ending in the name', `XROUTEID=.${R2}`],
  ['4000-character value', `ROUTEID=.${'x'.repeat(4000)}`],
  ['empty first cookie wins over a later one', `ROUTEID=; ROUTEID=.${R3}`]
]
