import ArgumentParser
import IPCommand

/// `isthmus completion bash|zsh|fish` (the scripts) and `isthmus __complete WORDS` (what they ask): the scripts are
/// thin, every candidate comes from the parsers' own tables, so completion never drifts from what the parsers take.
enum Completions {
    static let shells = ["bash", "zsh", "fish"]

    /// Global options, and which of them take a value.
    static let globalOptions = ["-j", "--json", "-p", "--pretty", "-d", "--details", "-s", "--stats", "-4", "-6",
                                "-n", "--netns", "-b", "-batch", "-f", "-force", "-V", "--version", "-h", "--help"]
    static let globalOptionsWithValue: Set<String> = ["-n", "--netns", "-b", "-batch"]

    /// Candidates for the last word of `words` (the words after `isthmus`; the last one is being typed and may be
    /// empty), filtered by what was typed. `Completion.filesDirective` alone asks the shell for file names.
    static func candidates(_ words: [String]) -> [String] {
        let typed = words.last ?? ""
        var rest = Array(words.dropLast())
        // Global options before the object.
        while let first = rest.first, first.hasPrefix("-") {
            rest.removeFirst()
            if globalOptionsWithValue.contains(first) {
                guard !rest.isEmpty else {
                    return first == "-n" || first == "--netns"
                        ? Completion.filter(Completion.namespaceNames(), typed: typed) : [Completion.filesDirective]
                }
                rest.removeFirst()
            }
        }
        guard let first = rest.first else {
            let all = typed.hasPrefix("-") ? globalOptions
                : IPCommandRunner.objectNames + SiteCommands.verbs + ["lab", "help", "completion", "man"]
            return Completion.filter(all, typed: typed)
        }
        let previous = rest.last!
        switch first {
        case "help": return Completion.filter(Help.topicNames, typed: typed)
        case "completion": return rest.count == 1 ? Completion.filter(shells, typed: typed) : []
        case "lab":
            if rest.count == 1 { return Completion.filter(["up", "check", "down", "status", "run"], typed: typed) }
            if typed.hasPrefix("-") { return Completion.filter(options(LabCommand.self).all, typed: typed) }
            return [Completion.filesDirective]
        case "service" where rest.count == 1:
            return Completion.filter(["install", "uninstall"], typed: typed)
        case "registry" where rest.count == 1:
            return Completion.filter(["status", "sites", "drain"], typed: typed)
        case _ where SiteCommands.verbs.contains(first):
            return commandOptions(command(forSiteVerb: first), previous: previous, typed: typed)
        case "l2tp" where rest.count >= 2 && rest[1] == "run" || rest.count >= 2 && rest[1] == "show" && typed.hasPrefix("-"):
            return commandOptions(L2TPCommand.self, previous: previous, typed: typed)
        default:
            if IPCommandRunner.object(named: first) == nil { return [] }
            return Completion.filter(Completion.object(rest + [typed]), typed: typed)
        }
    }

    static func command(forSiteVerb verb: String) -> ParsableCommand.Type {
        switch verb {
        case "plan": return SiteCommands.Plan.self
        case "up": return SiteCommands.Up.self
        case "status": return SiteCommands.Status.self
        case "down": return SiteCommands.Down.self
        case "registry": return FleetCommands.Registry.self
        default: return SiteCommands.ServiceCommand.self
        }
    }

    /// A parsed command's options: after one that takes a value, file names (for --config, --status, --unit-dir)
    /// or nothing; otherwise the options not yet given.
    static func commandOptions(_ command: ParsableCommand.Type, previous: String, typed: String) -> [String] {
        let o = options(command)
        if o.withValue.contains(previous) {
            return ["--config", "--status", "--unit-dir"].contains(previous) ? [Completion.filesDirective] : []
        }
        return Completion.filter(o.all, typed: typed)
    }

    /// The options of a command, read from its usage line (`up --config <config> [--site <site>] [--json] ...`):
    /// the parser's own declaration, not a list kept beside it.
    static func options(_ command: ParsableCommand.Type) -> (all: [String], withValue: Set<String>) {
        let words = Help.Tree.usageString(for: command)
            .split(whereSeparator: { " []|()".contains($0) }).map(String.init)
        var all: [String] = [], withValue = Set<String>()
        for (i, w) in words.enumerated() where w.hasPrefix("-") {
            all.append(w)
            if i + 1 < words.count, words[i + 1].hasPrefix("<") { withValue.insert(w) }
        }
        return (all + ["--help"], withValue)
    }

    /// The script for one shell. Each asks the `isthmus` being completed (`${COMP_WORDS[0]}`, `$words[1]`, the
    /// command line's first token), so a build tree's binary completes as well as an installed one.
    static func script(_ shell: String) throws -> String {
        switch shell {
        case "bash":
            return """
                # bash completion for isthmus (isthmus completion bash)
                _isthmus() {
                    local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\\n'
                    local -a out
                    out=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
                    if [[ ${out[0]} == \(Completion.filesDirective) ]]; then
                        COMPREPLY=($(compgen -f -- "$cur"))
                    else
                        COMPREPLY=("${out[@]}")
                    fi
                }
                complete -o filenames -F _isthmus isthmus

                """
        case "zsh":
            return """
                #compdef isthmus
                # zsh completion for isthmus (isthmus completion zsh)
                _isthmus() {
                    local -a out
                    out=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
                    if [[ ${out[1]} == \(Completion.filesDirective) ]]; then
                        _files
                    else
                        compadd -Q -- ${out:#}
                    fi
                }
                if [ "$funcstack[1]" = "_isthmus" ]; then
                    _isthmus "$@"
                else
                    compdef _isthmus isthmus
                fi

                """
        case "fish":
            return """
                # fish completion for isthmus (isthmus completion fish)
                function __isthmus_complete
                    set -l tokens (commandline -opc)
                    set -l out ($tokens[1] __complete $tokens[2..-1] (commandline -ct) 2>/dev/null)
                    if test "$out[1]" = "\(Completion.filesDirective)"
                        __fish_complete_path (commandline -ct)
                    else
                        printf '%s\\n' $out
                    end
                end
                complete -c isthmus -f -a '(__isthmus_complete)'

                """
        default:
            throw HelpFailure("completion: unknown shell \"\(shell)\"; valid: \(shells.joined(separator: ", "))")
        }
    }
}
