import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * An independent reflection client: @grpc/grpc-js speaking grpc.reflection.v1 (or v1alpha),
 * collecting the serialized FileDescriptorProtos the server returns.
 */
export type ReflectionVersion = "v1" | "v1alpha";

function reflectionClient(port: number, version: ReflectionVersion): grpc.Client {
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [fileURLToPath(new URL("../../proto", import.meta.url))],
    keepCase: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<ReflectionVersion, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  return new loaded.grpc.reflection[version].ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export type ReflectionAnswer = {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
};

/** Sends each request in turn over one bidirectional stream; resolves with the answers in order. */
export function reflect(
  port: number,
  requests: Record<string, unknown>[],
  version: ReflectionVersion = "v1",
): Promise<ReflectionAnswer[]> {
  const client = reflectionClient(port, version);
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionAnswer> }
    ).ServerReflectionInfo();
    const answers: ReflectionAnswer[] = [];
    call.on("data", (answer: ReflectionAnswer) => {
      answers.push(answer);
      if (answers.length === requests.length) call.end();
    });
    call.on("end", () => {
      client.close();
      resolve(answers);
    });
    call.on("error", (error) => {
      client.close();
      reject(error);
    });
    for (const request of requests) call.write(request);
  });
}

/** Encodes descriptors as a google.protobuf.FileDescriptorSet (field 1, repeated bytes). */
export function fileDescriptorSet(files: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const length: number[] = [];
    let remaining = file.length;
    do {
      let byte = remaining & 0x7f;
      remaining >>>= 7;
      if (remaining > 0) byte |= 0x80;
      length.push(byte);
    } while (remaining > 0);
    parts.push(Buffer.from([0x0a, ...length]), file);
  }
  return Buffer.concat(parts);
}
