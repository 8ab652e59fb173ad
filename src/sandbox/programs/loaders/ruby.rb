# Aurea's warm loader for Ruby: the interpreter is started ahead of time and waits here.
#
# Started as: ruby -e "<this file>" GO_FIFO WORKSPACE CODE_FILE READY_TAG
# (values from src/sandbox/supervisor-protocol.ts; nothing is interpolated into this text).
#
# It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
# the workspace in place, then reads one run message from stdin (see loaders/python.py for its
# layout), writes the code file when the message carries it, gives the program a stdin pipe of
# its own user's (fed by `cat`, so /dev/stdin opens by name), sets ARGV and the environment, and
# loads the program as the main script. Everything after the message is the program's stdin.

go_fifo, workspace, code_file, ready_tag = ARGV
$stdout.syswrite("\0#{ready_tag}\n")
File.open(go_fifo, "rb") { |go| go.read(3) }

# Exactly `count` bytes of stdin, unbuffered, so nothing past the message is taken from the program.
exactly = lambda do |count|
  data = String.new(encoding: Encoding::BINARY)
  data << $stdin.sysread(count - data.bytesize) while data.bytesize < count
  data
end
length = String.new(encoding: Encoding::BINARY)
length << exactly.call(1) until length.end_with?("\n")
fields = exactly.call(Integer(length)).split("\0", -1)[0...-1].map { |field| field.force_encoding(Encoding::UTF_8) }
nargs = Integer(fields[0])
args = fields[1, nargs]
nenv = Integer(fields[1 + nargs])
fields[2 + nargs, nenv].each do |entry|
  name, value = entry.split("=", 2)
  ENV[name] = value
end
File.binwrite(code_file, fields[3 + nargs + nenv]) if fields[2 + nargs + nenv] == "1"

reader, writer = IO.pipe
if fork.nil?
  reader.close
  $stdout.reopen(writer)
  exec("cat")
end
writer.close
$stdin.reopen(reader)
reader.close

ARGV.replace(args)
$0 = code_file
$LOAD_PATH.unshift(workspace)
load(File.join(workspace, code_file))
