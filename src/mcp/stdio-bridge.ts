#!/usr/bin/env node
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { pino } from "pino";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { readAureaVersion } from "../config/version.js";
import { createAureaMcpServer } from "./aurea-mcp-server.js";
import { toolBoundsFrom } from "./tool-schemas.js";

const usage = `usage: aurea-mcp --url http://host:8000 [--api-key KEY]

An MCP server on stdin/stdout for desktop agents, whose tools call the Aurea server at --url over
Connect. It holds no engine access of its own. The key may come from AUREA_API_KEY instead (which
keeps it out of the process list); the URL from AUREA_URL.`;

/**
 * `aurea-mcp`: the stdio MCP server. Logs go to stderr (stdout is the protocol); when the agent
 * closes stdin, the sessions this bridge created are closed and it exits.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: "string" }, "api-key": { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const url = values.url ?? process.env.AUREA_URL;
  if (!url || !/^https?:\/\//.test(url)) {
    process.stderr.write(`aurea-mcp: --url (or AUREA_URL) must be an http:// or https:// address\n${usage}\n`);
    process.exitCode = 2;
    return;
  }
  const apiKey = values["api-key"] ?? process.env.AUREA_API_KEY;
  const logger = pino({ level: process.env.LOG_LEVEL ?? "info" }, pino.destination(2));
  const client = createClient(SandboxService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  let languages: Awaited<ReturnType<typeof client.listLanguages>>;
  try {
    languages = await client.listLanguages({}, { headers, timeoutMs: 15_000 });
  } catch (error) {
    process.stderr.write(`aurea-mcp: ${url} did not answer ListLanguages: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const mcp = createAureaMcpServer({
    client,
    headers,
    bounds: toolBoundsFrom(languages),
    version: readAureaVersion(),
    logger,
  });
  const transport = new StdioServerTransport();
  const ended = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    process.stdin.once("end", resolve);
  });
  await mcp.server.connect(transport);
  logger.info({ url }, "aurea-mcp ready on stdio");
  await ended;
  await mcp.closeSessions();
  process.exit(0);
}

await main();
