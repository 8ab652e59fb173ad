// Aurea's warm loader for compilers that run on the JVM (javac, kotlinc, scalac): the JVM is started
// ahead of time, loads the compiler, compiles a small program of its own so the compiler's classes
// are loaded and compiled, and waits here. A compile then costs the compile, not the JVM's start.
//
// Started as: java JVM_OPTIONS... --source 21 /dev/fd/3 GO_FIFO CODE_FILE READY_TAG COMPILER
//             WARM_UP_SOURCE [ARGUMENT...]
// with this file's text on fd 3 (sandbox-scripts.ts; values from src/sandbox/supervisor-protocol.ts
// and the language's data file; nothing is interpolated into this text). JVM_OPTIONS are those of
// the language's own compile command, so the compiler runs in a JVM like the one it would start.
//
// COMPILER is "javac", "kotlinc" or "scalac"; the ARGUMENTs are the compiler's own, as the cold
// compile command passes them (the code file among them), and WARM_UP_SOURCE is a small valid
// program the warm-up compiles, in a directory of its own, before the ready marker.
//
// It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
// the workspace in place, reads one run message from stdin (see loaders/python.py for its
// layout), writes the code file when the message carries it, runs the compiler once in this JVM
// with the ARGUMENTs (relative to the workspace, the JVM's working directory), and exits with the
// status the compiler's own command exits with. A compile's messages are the compiler's own,
// written where its command writes them. Each container compiles once: nothing of one compile
// reaches another's.

import java.io.File;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

public final class CompilerLoader {
  /** One compiler, driven in this JVM: compiles with `arguments`, returns its command's exit status. */
  interface Compiler {
    int compile(String[] arguments) throws Exception;
  }

  public static void main(String[] argv) throws Exception {
    String goFifo = argv[0];
    String codeFile = argv[1];
    String readyTag = argv[2];
    String name = argv[3];
    String warmUpSource = argv[4];
    String[] arguments = Arrays.copyOfRange(argv, 5, argv.length);
    Compiler compiler = switch (name) {
      case "javac" -> javac();
      case "kotlinc" -> kotlinc();
      case "scalac" -> scalac();
      default -> throw new IllegalArgumentException("aurea: no compiler called " + name);
    };
    warmUp(compiler, arguments, codeFile, warmUpSource);

    OutputStream stdout = new FileOutputStream(FileDescriptor.out);
    stdout.write(("\0" + readyTag + "\n").getBytes(StandardCharsets.UTF_8));
    stdout.flush();
    try (InputStream go = new FileInputStream(goFifo)) {
      exactly(go, 3);
    }
    byte[] code = receiveRun(new FileInputStream(FileDescriptor.in));
    if (code != null) Files.write(Path.of(codeFile), code);
    int status = compiler.compile(arguments);
    System.out.flush();
    System.err.flush();
    System.exit(status);
  }

  /**
   * Reads the run message and returns the code it carries, or null. A compile takes no arguments
   * and no environment of the run's (Aurea sends it cold when the run sets any: a JVM's options
   * come from its environment at its start).
   */
  static byte[] receiveRun(InputStream in) throws IOException {
    StringBuilder length = new StringBuilder();
    for (int next = in.read(); next != '\n'; next = in.read()) {
      if (next < 0) throw new IOException("aurea: the run message ended early");
      length.append((char) next);
    }
    byte[] message = exactly(in, Integer.parseInt(length.toString()));
    List<byte[]> fields = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < message.length; i++) {
      if (message[i] == 0) {
        fields.add(Arrays.copyOfRange(message, start, i));
        start = i + 1;
      }
    }
    int nargs = Integer.parseInt(new String(fields.get(0), StandardCharsets.UTF_8));
    int nenv = Integer.parseInt(new String(fields.get(1 + nargs), StandardCharsets.UTF_8));
    boolean inline = new String(fields.get(2 + nargs + nenv), StandardCharsets.UTF_8).equals("1");
    return inline ? fields.get(3 + nargs + nenv) : null;
  }

  /**
   * Reads `count` bytes, no more: what follows stays for its reader. A pipe's and a FIFO's streams
   * cannot seek, which FileInputStream.readNBytes tries.
   */
  static byte[] exactly(InputStream in, int count) throws IOException {
    byte[] data = new byte[count];
    for (int offset = 0; offset < count; ) {
      int read = in.read(data, offset, count - offset);
      if (read < 0) throw new IOException("aurea: the run message ended early");
      offset += read;
    }
    return data;
  }

  /**
   * Compiles WARM_UP_SOURCE (under the code file's name, in a directory of its own under /tmp)
   * twice, so the compile that matters runs on loaded and compiled classes. It must succeed
   * silently: anything it prints comes before the ready marker, which the pool then refuses.
   */
  static void warmUp(Compiler compiler, String[] arguments, String codeFile, String source) throws Exception {
    Path directory = Files.createTempDirectory("aurea-compiler-warm-up");
    try {
      Path file = directory.resolve(codeFile);
      Files.writeString(file, source);
      String[] warmUpArguments = inDirectory(arguments, codeFile, directory);
      for (int round = 0; round < 2; round++) {
        int status = compiler.compile(warmUpArguments);
        if (status != 0) throw new IllegalStateException("aurea: the warm-up compile exited " + status);
      }
      // What the warm-up left is garbage: collected now, not in the middle of the compile that counts.
      System.gc();
    } finally {
      try (Stream<Path> paths = Files.walk(directory)) {
        for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(path);
      }
    }
  }

  /**
   * The compile's arguments for a compile in `directory`: the code file from there, the output
   * there (`-d`, whose value becomes a path under it, or added as `-d directory`).
   */
  static String[] inDirectory(String[] arguments, String codeFile, Path directory) {
    List<String> moved = new ArrayList<>();
    boolean hasOutput = false;
    for (int i = 0; i < arguments.length; i++) {
      if (arguments[i].equals("-d") && i + 1 < arguments.length) {
        moved.add("-d");
        moved.add(directory.resolve(arguments[++i]).toString());
        hasOutput = true;
      } else {
        moved.add(arguments[i].equals(codeFile) ? directory.resolve(codeFile).toString() : arguments[i]);
      }
    }
    if (!hasOutput) {
      moved.add(0, directory.toString());
      moved.add(0, "-d");
    }
    return moved.toArray(String[]::new);
  }

  /** javac, as `javac ARGUMENTS` runs it: messages on stderr, its exit status. */
  static Compiler javac() {
    javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
    return arguments -> javac.run(null, System.out, System.err, arguments);
  }

  /**
   * Kotlin's compiler, as its command line (the preloader, then K2JVMCompiler) runs it: its messages
   * on stderr, its ExitCode's number. Like the preloader, it loads the compiler's jar (this JVM's
   * classpath, the jar the compile command names) in a class loader of its own, by the path as
   * given: the compiler finds its home, runtime and plug-ins next to that path, and the jar's
   * manifest names its dependencies relative to it (the JVM's own class path resolves the jar's
   * symbolic link first, where neither is).
   */
  static Compiler kotlinc() throws Exception {
    List<URL> jars = new ArrayList<>();
    for (String jar : System.getProperty("java.class.path").split(File.pathSeparator)) jars.add(Path.of(jar).toUri().toURL());
    ClassLoader loader = new URLClassLoader(jars.toArray(URL[]::new), ClassLoader.getPlatformClassLoader());
    Class<?> tool = Class.forName("org.jetbrains.kotlin.cli.common.CLITool", true, loader);
    Object k2jvm = Class.forName("org.jetbrains.kotlin.cli.jvm.K2JVMCompiler", true, loader).getConstructor().newInstance();
    Method doMainNoExit = tool.getMethod("doMainNoExit", tool, String[].class);
    return arguments -> {
      Object exitCode = doMainNoExit.invoke(null, k2jvm, (Object) arguments);
      return (int) exitCode.getClass().getMethod("getCode").invoke(exitCode);
    };
  }

  /**
   * Scala's compiler, as `scalac` runs it (scala.tools.nsc.Main, from the JVM's classpath that the
   * scalac script sets): its reporter's messages, 1 when it reported an error, else 0.
   */
  static Compiler scalac() throws Exception {
    Class<?> main = Class.forName("scala.tools.nsc.Main");
    Method process = main.getMethod("process", String[].class);
    Method reporter = main.getMethod("reporter");
    return arguments -> {
      process.invoke(null, (Object) arguments);
      Object console = reporter.invoke(null);
      boolean errors = (boolean) console.getClass().getMethod("hasErrors").invoke(console);
      return errors ? 1 : 0;
    };
  }

  private CompilerLoader() {}
}
