// express-session with its default MemoryStore, as too many apps run it in
// production: express-session warns on stderr at startup. Serves on PORT.
const express = require('express');
const session = require('express-session');

const app = express();
app.use(session({ secret: 'fixture', resave: false, saveUninitialized: true }));
app.get('/', (req, res) => res.send('ok\n'));
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
