// express4 is an npm alias of express@4 for the conformance run; its API for what the harness uses
// (express(), app.use) is typed the same as Express 5.
declare module 'express4' {
  import express from 'express'
  export default express
}
