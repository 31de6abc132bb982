import assert from "node:assert/strict";
import { NGINX, nginxConfig } from "./nginx.ts";

Deno.test("nginxConfig() is a config nginx itself accepts, with a combined access log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = nginxConfig({ port: 8080, dir });
    // No log_format given: nginx's predefined "combined", as nginx ships.
    assert.match(text, new RegExp(`access_log ${dir}/access\\.log;`));
    assert.match(text, /worker_processes 1;/);
    await Deno.writeTextFile(`${dir}/nginx.conf`, text);
    const output = await new Deno.Command(NGINX, {
      args: [
        "-t",
        "-p",
        dir,
        "-e",
        `${dir}/error.log`,
        "-c",
        `${dir}/nginx.conf`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
