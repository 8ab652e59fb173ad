import http from "node:http";

export interface JsonReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * POSTs JSON over plain HTTP/1.1 as curl would: the Connect protocol's unary JSON form, with no
 * Connect-specific headers.
 */
export function postJson(baseUrl: string, path: string, body: unknown): Promise<JsonReply> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}${path}`,
      { method: "POST", headers: { "Content-Type": "application/json", "Content-Length": payload.length } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`not JSON (HTTP ${response.statusCode}): ${text.slice(0, 200)}`));
          }
        });
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

export const runPath = "/aurea.sandbox.v1.SandboxService/Run";
export const healthPath = "/aurea.sandbox.v1.SandboxService/Health";

/** The original REST API's answer to its hello-world request, as its users read it. */
export const helloRequest = { code: 'print("Hello from sandbox!")', language: "python", timeout: 30, readonly: true };
export const helloResponse = {
  success: true,
  exit_code: 0,
  stdout: "Hello from sandbox!\n",
  stderr: "",
  timed_out: false,
  timeout: 30,
  artifacts: {},
  status: "RUN_STATUS_OK",
};
