/** Programs more than one test file throws at the sandbox. */

/** A Java program whose heap grows by 1 MiB blocks, touched, until something stops it. */
export const javaHeapBomb = [
  "import java.util.*;",
  "public class Main {",
  "    public static void main(String[] args) {",
  "        List<byte[]> kept = new ArrayList<>();",
  "        for (;;) { byte[] block = new byte[1 << 20]; Arrays.fill(block, (byte) 1); kept.add(block); }",
  "    }",
  "}",
].join("\n");
