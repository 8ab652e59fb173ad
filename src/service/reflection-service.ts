import { create, fromBinary, toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  ServerReflectionRequestSchema as RequestV1,
  ServerReflectionResponseSchema as ResponseV1,
  type ServerReflection as ServerReflectionV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServiceResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as RequestV1alpha,
  ServerReflectionResponseSchema as ResponseV1alpha,
  type ServerReflection as ServerReflectionV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** gRPC status code NOT_FOUND, as the reflection protocol's error_code carries it. */
const notFound = 5;
/** gRPC status code UNIMPLEMENTED. */
const unimplemented = 12;

/**
 * Answers reflection questions from the descriptors protobuf-es embeds in the generated code:
 * the served services' files and, for each answer, every file it depends on.
 */
export class DescriptorIndex {
  private readonly byFileName = new Map<string, DescFile>();
  private readonly bySymbol = new Map<string, DescFile>();

  constructor(readonly services: readonly DescService[]) {
    for (const service of services) this.addFile(service.file);
  }

  fileByName(name: string): DescFile | undefined {
    return this.byFileName.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.bySymbol.get(symbol.replace(/^\./, ""));
  }

  /** The file first, then its dependencies, transitively, each once, serialized. */
  serializeWithDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const ordered: DescFile[] = [];
    const visit = (current: DescFile) => {
      if (seen.has(current.name)) return;
      seen.add(current.name);
      ordered.push(current);
      current.dependencies.forEach(visit);
    };
    visit(file);
    return ordered.map((each) => toBinary(FileDescriptorProtoSchema, each.proto));
  }

  private addFile(file: DescFile): void {
    if (this.byFileName.has(file.proto.name)) return;
    this.byFileName.set(file.proto.name, file);
    const addMessage = (message: DescMessage) => {
      this.bySymbol.set(message.typeName, file);
      message.nestedMessages.forEach(addMessage);
      for (const nested of message.nestedEnums) this.bySymbol.set(nested.typeName, file);
    };
    file.messages.forEach(addMessage);
    for (const enumeration of file.enums) this.bySymbol.set(enumeration.typeName, file);
    for (const service of file.services) {
      this.bySymbol.set(service.typeName, file);
      for (const method of service.methods) this.bySymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) this.addFile(dependency);
  }
}

/** Answers one reflection request. Pure. */
export function answerReflection(index: DescriptorIndex, request: ServerReflectionRequest): ServerReflectionResponse {
  const answer = (messageResponse: ServerReflectionResponse["messageResponse"]) =>
    create(ResponseV1, { validHost: request.host, originalRequest: request, messageResponse });
  const error = (code: number, message: string) =>
    answer({ case: "errorResponse", value: create(ErrorResponseSchema, { errorCode: code, errorMessage: message }) });
  const files = (file: DescFile | undefined, what: string) =>
    file
      ? answer({
          case: "fileDescriptorResponse",
          value: create(FileDescriptorResponseSchema, { fileDescriptorProto: index.serializeWithDependencies(file) }),
        })
      : error(notFound, `${what} not found`);

  const question = request.messageRequest;
  switch (question.case) {
    case "listServices":
      return answer({
        case: "listServicesResponse",
        value: create(ListServiceResponseSchema, {
          service: index.services.map((service) => create(ServiceResponseSchema, { name: service.typeName })),
        }),
      });
    case "fileByFilename":
      return files(index.fileByName(question.value), `file ${JSON.stringify(question.value)}`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(question.value), `symbol ${JSON.stringify(question.value)}`);
    case "fileContainingExtension":
      return error(notFound, `no extensions of ${question.value.containingType} are served`);
    case "allExtensionNumbersOfType":
      return answer({
        case: "allExtensionNumbersResponse",
        value: create(ExtensionNumberResponseSchema, { baseTypeName: question.value, extensionNumber: [] }),
      });
    default:
      return error(unimplemented, "empty or unknown reflection request");
  }
}

/** grpc.reflection.v1.ServerReflection. */
export function createReflectionServiceV1(index: DescriptorIndex): ServiceImpl<typeof ServerReflectionV1> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) yield answerReflection(index, request);
    },
  };
}

/**
 * grpc.reflection.v1alpha.ServerReflection: the same messages on the wire under an older
 * package name, so each request and answer is carried across through its bytes.
 */
export function createReflectionServiceV1alpha(index: DescriptorIndex): ServiceImpl<typeof ServerReflectionV1alpha> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        const asV1 = fromBinary(RequestV1, toBinary(RequestV1alpha, request));
        yield fromBinary(ResponseV1alpha, toBinary(ResponseV1, answerReflection(index, asV1)));
      }
    },
  };
}
