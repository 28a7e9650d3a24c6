// node's smtp-server (npm package smtp-server) for the conformance suite: 127.0.0.1, a port
// the OS picks (printed as one line), until standard input ends. Arguments: a Maildir folder,
// a certificate and a key (STARTTLS, with AUTH PLAIN/LOGIN/CRAM-MD5 after it), a user and a
// password; "lmtp" after them serves LMTP (RFC 2033) instead of SMTP.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { SMTPServer } = require("smtp-server");

const [maildir, certFile, keyFile, user, password, protocol] = process.argv.slice(2);
let counter = 0;
for (const sub of ["tmp", "new", "cur"]) fs.mkdirSync(path.join(maildir, sub), { recursive: true });

function store(chunks, done) {
    // tmp/ then new/: a reader never sees half a message.
    const name = `${Date.now()}.${process.pid}_${counter++}.${os.hostname()}`;
    const tmp = path.join(maildir, "tmp", name);
    fs.writeFile(tmp, Buffer.concat(chunks), (err) => {
        if (err) return done(err);
        fs.rename(tmp, path.join(maildir, "new", name), done);
    });
}

const server = new SMTPServer({
    key: fs.readFileSync(keyFile),
    cert: fs.readFileSync(certFile),
    authMethods: ["PLAIN", "LOGIN", "CRAM-MD5"],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    lmtp: protocol === "lmtp",
    size: 10 * 1024 * 1024,
    onAuth(auth, session, callback) {
        const ok = auth.method === "CRAM-MD5"
            ? auth.username === user && auth.validatePassword(password)
            : auth.username === user && auth.password === password;
        if (!ok) return callback(new Error("Invalid username or password"));
        callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
        const chunks = [];
        stream.on("data", (chunk) => chunks.push(chunk));
        stream.on("end", () => {
            if (stream.sizeExceeded) {
                const err = new Error("Message exceeds fixed maximum message size");
                err.responseCode = 552;
                return callback(err);
            }
            store(chunks, callback);
        });
    },
});
server.on("error", () => {});  // a client that resets is no reason to stop
server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${server.server.address().port}\n`);
});
process.stdin.on("data", () => {});
process.stdin.on("end", () => server.close(() => process.exit(0)));
