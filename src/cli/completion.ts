import type { Command, Option } from 'commander';

/** One node of the command tree, flattened by its path (`""`, `"mfa"`, `"mfa add-phone"`). */
interface Node {
  path: string;
  subcommands: { name: string; description: string }[];
  options: { flag: string; description: string }[];
  values: string[];
}

function visibleOptions(command: Command): Option[] {
  return command.options.filter((option) => !option.hidden);
}

function walk(command: Command, path: string, inherited: Option[], nodes: Node[]): void {
  const options = [...visibleOptions(command), ...inherited];
  nodes.push({
    path,
    subcommands: command.commands.map((sub) => ({ name: sub.name(), description: sub.description() })),
    options: [
      ...options.flatMap((option) =>
        option.long ? [{ flag: option.long, description: option.description }] : [],
      ),
      { flag: '--help', description: 'show help' },
    ],
    values: command.registeredArguments.flatMap((argument) => argument.argChoices ?? []),
  });
  for (const sub of command.commands) {
    walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`, options, nodes);
  }
}

function tree(program: Command): Node[] {
  const nodes: Node[] = [];
  walk(program, '', [], nodes);
  return nodes;
}

const single = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const nodes = tree(program);
  const cases = (pick: (node: Node) => string[]) =>
    nodes
      .map((node) => ({ node, words: pick(node) }))
      .filter(({ words }) => words.length > 0)
      .map(({ node, words }) => `    ${single(node.path)}) echo ${single(words.join(' '))} ;;`)
      .join('\n');
  return `# bash completion for latchkey. Load it with:  source <(latchkey completion bash)
_latchkey_subcommands() {
  case "$1" in
${cases((node) => node.subcommands.map((sub) => sub.name))}
  esac
}
_latchkey_options() {
  case "$1" in
${cases((node) => node.options.map((option) => option.flag))}
  esac
}
_latchkey_values() {
  case "$1" in
${cases((node) => node.values)}
  esac
}
_latchkey() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ $word == -* ]] && continue
    case " $(_latchkey_subcommands "$path") " in
      *" $word "*) path="\${path:+$path }$word" ;;
    esac
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_latchkey_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_latchkey_subcommands "$path") $(_latchkey_values "$path")" -- "$cur"))
  fi
}
complete -F _latchkey latchkey
`;
}

export function zshCompletion(program: Command): string {
  const nodes = tree(program);
  const described = (name: string, description: string) =>
    single(`${name.replaceAll(':', '\\:')}:${description}`);
  const cases = (variable: string, pick: (node: Node) => string[]) =>
    nodes
      .map((node) => ({ node, words: pick(node) }))
      .filter(({ words }) => words.length > 0)
      .map(({ node, words }) => `    ${single(node.path)}) ${variable}=(${words.join(' ')}) ;;`)
      .join('\n');
  return `#compdef latchkey
# zsh completion for latchkey. Load it after compinit with:  source <(latchkey completion zsh)
_latchkey_lists() {
  subs=() opts=() vals=()
  case "$1" in
${cases('subs', (node) => node.subcommands.map((sub) => described(sub.name, sub.description)))}
  esac
  case "$1" in
${cases('opts', (node) => node.options.map((option) => described(option.flag, option.description)))}
  esac
  case "$1" in
${cases('vals', (node) => node.values.map(single))}
  esac
}
_latchkey() {
  local path_="" word i
  local -a subs opts vals
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    [[ $word == -* ]] && continue
    _latchkey_lists "$path_"
    if (( \${subs[(I)\${(b)word}:*]} )); then path_="\${path_:+$path_ }$word"; fi
  done
  _latchkey_lists "$path_"
  if [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options 'option' opts
  else
    (( \${#subs} )) && _describe -t commands 'command' subs
    (( \${#vals} )) && compadd -a vals
  fi
}
compdef _latchkey latchkey
`;
}
