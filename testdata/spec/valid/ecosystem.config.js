// A typical PM2 file: CommonJS, computed values, and output of its own.
const path = require("path");

console.log("this line must not confuse tend");

const common = { autorestart: true, max_restarts: 10 };

module.exports = {
  apps: [
    {
      ...common,
      name: "web",
      script: path.join(__dirname, "..", "scripts", "api.js"),
      instances: 2,
      env: { PORT: 3000, NODE_ENV: "development" },
      env_production: { NODE_ENV: "production" },
    },
    {
      ...common,
      name: "worker",
      script: "../scripts/worker.mjs",
      node_args: "--enable-source-maps --title 'tend worker'",
      kill_timeout: 5000,
    },
  ],
};
