// Starts dynalite or kinesalite for the local stack.
// usage: node node_server.js <node_modules> <dynalite|kinesalite> <host> <port> <json options>
// Why not their own CLIs: kinesalite's cannot bind to 127.0.0.1 only, and both servers throw from
// a request's 'error' handler, so a client killed mid-request (kill -9 tests, Ctrl-C) takes the
// whole server down. Here that one request is dropped and the server keeps serving.
const path = require('path')
const [nodeModules, name, host, port, options] = process.argv.slice(2)
const create = require(path.join(nodeModules, name))
const server = create(JSON.parse(options))
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error(`${name}: a client went away mid-request (${err.message}); still serving`)
    return
  }
  console.error(err)
  process.exit(1)
})
server.listen(Number(port), host, () => console.log(`${name} listening at http://${host}:${port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
