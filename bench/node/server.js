// node's smtp-server as a yardstick beside our engines: 127.0.0.1, a port the OS picks
// (printed as one line), until standard input ends. onData drains each message, as an
// application's hook would read it; with a folder argument, each message is also written
// to a Maildir (tmp/ then new/, synced before the 250) as our engines' Maildir handler does.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { SMTPServer } = require("smtp-server");

const maildir = process.argv[2];
let counter = 0;
if (maildir) {
    for (const sub of ["tmp", "new", "cur"]) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
}

function store(chunks, done) {
    const name = `${Date.now()}.${process.pid}_${counter++}.${os.hostname()}`;
    const tmp = path.join(maildir, "tmp", name);
    fs.open(tmp, "wx", (err, fd) => {
        if (err) return done(err);
        fs.writev(fd, chunks, (err) => {
            if (err) return fs.close(fd, () => done(err));
            fs.fsync(fd, (err) => {
                fs.close(fd, () => {
                    if (err) return done(err);
                    fs.rename(tmp, path.join(maildir, "new", name), done);
                });
            });
        });
    });
}

const server = new SMTPServer({
    disabledCommands: ["AUTH", "STARTTLS"],
    disableReverseLookup: true,
    logger: false,
    size: 32 * 1024 * 1024,
    onData(stream, session, callback) {
        const chunks = [];
        stream.on("data", (chunk) => chunks.push(chunk));
        stream.on("end", () => (maildir ? store(chunks, callback) : callback()));
    },
});
server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${server.server.address().port}\n`);
});
process.stdin.on("data", () => {});
process.stdin.on("end", () => server.close(() => process.exit(0)));
