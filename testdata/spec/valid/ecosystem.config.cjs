// "apps" may be a single app, as PM2 accepts.
module.exports = {
  apps: {
    script: "../scripts/api.js",
    exec_interpreter: "node",
    args: ["--port", 4000],
    restart_delay: "1.5s",
  },
};
