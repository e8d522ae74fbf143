<?php
/**
 * Rejects PHP >= 5.3 syntax in files meant for PHP 5.2 (the core, the Joomla 1.5 adapter),
 * using the tokenizer of the PHP running it (8.x). Debian ships no PHP 5.2 and no
 * nikic/php-parser here, so this is a token-level checker: it knows the constructs below,
 * not the whole grammar; `php -l` on 8.x still catches plain syntax errors.
 *
 *   php tests/php52-syntax-check.php FILE_OR_DIR...   prints FILE:LINE: problem, exit 1 if any
 *
 * Included as a library it defines php52_check_source($code) and php52_check_paths($paths).
 */

/** Scalar/pseudo types of PHP 7+ that a 5.2 parameter cannot declare. */
const PHP52_MODERN_TYPES = ['int', 'float', 'string', 'bool', 'iterable', 'object', 'mixed', 'void', 'never', 'null', 'false', 'true', 'static'];

/** Tokens that exist only for post-5.2 syntax, with the message to print. */
const PHP52_FORBIDDEN_TOKENS = [
    'T_NAMESPACE' => 'namespace (5.3)',
    'T_NS_SEPARATOR' => 'namespaced name (5.3)',
    'T_NAME_QUALIFIED' => 'namespaced name (5.3)',
    'T_NAME_FULLY_QUALIFIED' => 'namespaced name (5.3)',
    'T_NAME_RELATIVE' => 'namespaced name (5.3)',
    'T_NS_C' => '__NAMESPACE__ (5.3)',
    'T_DIR' => '__DIR__ (5.3)',
    'T_GOTO' => 'goto (5.3)',
    'T_FN' => 'arrow function fn (7.4)',
    'T_COALESCE' => '?? (7.0)',
    'T_COALESCE_EQUAL' => '??= (7.4)',
    'T_NULLSAFE_OBJECT_OPERATOR' => '?-> (8.0)',
    'T_ELLIPSIS' => '... variadics/unpacking (5.6)',
    'T_YIELD' => 'yield (5.5)',
    'T_YIELD_FROM' => 'yield from (7.0)',
    'T_TRAIT' => 'trait (5.4)',
    'T_INSTEADOF' => 'insteadof (5.4)',
    'T_TRAIT_C' => '__TRAIT__ (5.4)',
    'T_FINALLY' => 'finally (5.5)',
    'T_POW' => '** (5.6)',
    'T_POW_EQUAL' => '**= (5.6)',
    'T_SPACESHIP' => '<=> (7.0)',
    'T_MATCH' => 'match (8.0)',
    'T_ENUM' => 'enum (8.1)',
    'T_READONLY' => 'readonly (8.1)',
    'T_ATTRIBUTE' => 'attribute #[ (8.0)',
    'T_CALLABLE' => 'callable type (5.4)',
    'T_USE' => 'use (5.3: import, closure use or trait use)',
];

/**
 * @return array list of [line, message]
 */
function php52_check_source(string $code): array
{
    $raw = token_get_all($code);
    $tokens = [];
    foreach ($raw as $t) {
        $tokens[] = is_array($t) ? [token_name($t[0]), $t[1], $t[2]] : [$t, $t, null];
    }
    // Give one-character tokens the line of the previous token.
    $line = 1;
    foreach ($tokens as $i => $t) {
        if ($t[2] === null) {
            $tokens[$i][2] = $line;
        } else {
            $line = $t[2] + substr_count($t[1], "\n");
        }
    }
    $n = count($tokens);
    $insignificant = ['T_WHITESPACE' => 1, 'T_COMMENT' => 1, 'T_DOC_COMMENT' => 1];
    $next = function (int $i, int $dir = 1) use ($tokens, $n, $insignificant): int {
        for ($j = $i + $dir; $j >= 0 && $j < $n; $j += $dir) {
            if (!isset($insignificant[$tokens[$j][0]])) {
                return $j;
            }
        }
        return -1;
    };
    $name = function (int $j) use ($tokens): string { return $j < 0 ? '' : $tokens[$j][0]; };
    $matching = function (int $open) use ($tokens, $n): int {
        $depth = 0;
        for ($j = $open; $j < $n; $j++) {
            $t = $tokens[$j][0];
            if ($t === '(') {
                $depth++;
            } elseif ($t === ')') {
                if (--$depth === 0) {
                    return $j;
                }
            }
        }
        return -1;
    };
    $problems = [];
    $add = function (int $i, string $message) use (&$problems, $tokens) {
        $problems[] = [$tokens[$i][2], $message];
    };
    $braces = 0;
    $curlyOpen = ['{' => 1, 'T_CURLY_OPEN' => 1, 'T_DOLLAR_OPEN_CURLY_BRACES' => 1];
    $paramsChecked = [];

    for ($i = 0; $i < $n; $i++) {
        [$t, $text] = $tokens[$i];
        if (isset($curlyOpen[$t])) {
            $braces++;
        } elseif ($t === '}') {
            $braces--;
        }
        if (isset(PHP52_FORBIDDEN_TOKENS[$t])) {
            $add($i, PHP52_FORBIDDEN_TOKENS[$t]);
            continue;
        }
        switch ($t) {
            case 'T_FUNCTION':
                $j = $next($i);
                if (in_array($name($j), ['&', 'T_AMPERSAND_NOT_FOLLOWED_BY_VAR_OR_VARARG', 'T_AMPERSAND_FOLLOWED_BY_VAR_OR_VARARG'], true)) {
                    $j = $next($j);
                }
                if ($name($j) === '(') {
                    $prev = $next($i, -1);
                    $add($i, $name($prev) === 'T_STATIC' ? 'static closure (5.4)' : 'closure function ( (5.3)');
                } elseif ($name($j) === 'T_STRING' || ($j >= 0 && preg_match('/^[A-Za-z_]/', $tokens[$j][1]))) {
                    $open = $next($j);
                    if ($name($open) === '(') {
                        $paramsChecked[$open] = true;
                        php52_check_signature($tokens, $open, $matching($open), $next, $add);
                    }
                }
                break;
            case 'T_DOUBLE_COLON':
                $after = $next($i);
                $before = $next($i, -1);
                if ($name($after) === 'T_CLASS') {
                    $add($i, '::class (5.5)');
                } elseif ($name($before) === 'T_STATIC') {
                    $add($i, 'static:: late static binding (5.3)');
                } elseif ($name($before) === 'T_VARIABLE' || $name($before) === ')' || $name($before) === ']') {
                    $add($i, 'dynamic class name before :: (5.3)');
                }
                break;
            case '[':
                $prev = $next($i, -1);
                $p = $name($prev);
                if ($p === 'T_VARIABLE' || $p === ']' || $p === '}') {
                    break;
                }
                if ($p === 'T_STRING') {
                    $pp = $name($next($prev, -1));
                    if ($pp === 'T_OBJECT_OPERATOR' || $pp === 'T_DOUBLE_COLON') {
                        break;
                    }
                    $add($i, 'constant dereference [ (5.6)');
                    break;
                }
                if ($p === ')') {
                    $add($i, 'dereference of a call or expression result [ (5.4)');
                    break;
                }
                if ($p === 'T_CONSTANT_ENCAPSED_STRING') {
                    $add($i, 'string literal dereference (5.5)');
                    break;
                }
                $add($i, 'short array syntax [ ] (5.4)');
                break;
            case 'T_NEW':
                $j = $next($i);
                if ($name($j) === 'T_CLASS') {
                    $add($i, 'anonymous class (7.0)');
                    break;
                }
                // new X(...)-> (8.4) and (new X)-> (5.4): member access on a new expression.
                while ($j >= 0 && in_array($name($j), ['T_STRING', 'T_VARIABLE', 'T_STATIC'], true)) {
                    $j = $next($j);
                }
                if ($name($j) === '(') {
                    $j = $next($matching($j));
                }
                $prev = $next($i, -1);
                if ($name($prev) === '(') {
                    $close = $matching($prev);
                    if ($close >= 0 && in_array($name($next($close)), ['T_OBJECT_OPERATOR', 'T_DOUBLE_COLON', '['], true)) {
                        $add($i, '(new X)-> member access on instantiation (5.4)');
                        break;
                    }
                }
                if (in_array($name($j), ['T_OBJECT_OPERATOR', 'T_DOUBLE_COLON', '['], true)) {
                    $add($i, 'new X()-> member access on instantiation (8.4)');
                }
                break;
            case 'T_CONST':
                if ($braces === 0) {
                    $add($i, 'const outside a class (5.3)');
                }
                break;
            case 'T_START_HEREDOC':
                if (strpos($text, "'") !== false) {
                    $add($i, "nowdoc <<<'X' (5.3)");
                } elseif (strpos($text, '"') !== false) {
                    $add($i, 'heredoc with a quoted label (5.3)');
                }
                break;
            case 'T_LNUMBER':
            case 'T_DNUMBER':
                if (preg_match('/^0[bB]/', $text)) {
                    $add($i, 'binary literal 0b (5.4)');
                } elseif (preg_match('/^0[oO]/', $text)) {
                    $add($i, 'explicit octal 0o (8.1)');
                } elseif (strpos($text, '_') !== false) {
                    $add($i, 'numeric literal separator (7.4)');
                }
                break;
            case '?':
                if ($name($next($i)) === ':') {
                    $add($i, 'short ternary ?: (5.3)');
                }
                break;
            case 'T_DECLARE':
                $open = $next($i);
                $close = $matching($open);
                if ($close > 0 && stripos(implode('', array_column(array_slice($tokens, $open, $close - $open), 1)), 'strict_types') !== false) {
                    $add($i, 'declare(strict_types) (7.0)');
                }
                break;
            case 'T_STATIC':
                if ($name($next($i)) === 'T_FN') {
                    $add($i, 'static fn (7.4)');
                }
                break;
        }
    }
    return $problems;
}

/** Parameter and return type declarations of a named function. */
function php52_check_signature(array $tokens, int $open, int $close, callable $next, callable $add): void
{
    if ($close < 0) {
        return;
    }
    $depth = 0;
    for ($j = $open; $j <= $close; $j++) {
        $t = $tokens[$j][0];
        if ($t === '(') {
            $depth++;
            continue;
        }
        if ($t === ')') {
            $depth--;
            continue;
        }
        if ($depth !== 1) {
            continue;
        }
        if ($t === '?') {
            $add($j, 'nullable type ?T (7.1)');
        } elseif ($t === '|') {
            $add($j, 'union type (8.0)');
        } elseif (in_array($t, ['T_PUBLIC', 'T_PROTECTED', 'T_PRIVATE', 'T_READONLY'], true)) {
            $add($j, 'constructor property promotion (8.0)');
        } elseif ($t === 'T_STRING' || $t === 'T_STATIC') {
            $after = $next($j);
            $before = $next($j, -1);
            $isType = $after >= 0 && in_array($tokens[$after][0], ['T_VARIABLE', '&', 'T_ELLIPSIS', 'T_AMPERSAND_NOT_FOLLOWED_BY_VAR_OR_VARARG', 'T_AMPERSAND_FOLLOWED_BY_VAR_OR_VARARG'], true);
            $isDefault = $before >= 0 && $tokens[$before][0] === '=';
            if ($isType && !$isDefault && in_array(strtolower($tokens[$j][1]), PHP52_MODERN_TYPES, true)) {
                $add($j, 'scalar type declaration ' . $tokens[$j][1] . ' (7.0)');
            }
        }
    }
    $after = $next($close);
    if ($after >= 0 && $tokens[$after][0] === ':') {
        $add($after, 'return type declaration (7.0)');
    }
}

/** @return array list of "FILE:LINE: message" */
function php52_check_paths(array $paths): array
{
    $out = [];
    foreach ($paths as $path) {
        $files = [];
        if (is_dir($path)) {
            $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($path, FilesystemIterator::SKIP_DOTS));
            foreach ($it as $file) {
                if (substr($file->getFilename(), -4) === '.php') {
                    $files[] = $file->getPathname();
                }
            }
            sort($files);
        } elseif (is_file($path)) {
            $files[] = $path;
        } else {
            $out[] = $path . ':0: no such file or directory';
            continue;
        }
        foreach ($files as $file) {
            foreach (php52_check_source((string) file_get_contents($file)) as [$line, $message]) {
                $out[] = $file . ':' . $line . ': ' . $message;
            }
        }
    }
    return $out;
}

if (PHP_SAPI === 'cli' && isset($argv[0]) && realpath($argv[0]) === __FILE__) {
    if (count($argv) < 2) {
        fwrite(STDERR, "usage: php php52-syntax-check.php FILE_OR_DIR...\n");
        exit(2);
    }
    $problems = php52_check_paths(array_slice($argv, 1));
    foreach ($problems as $p) {
        echo $p, "\n";
    }
    exit($problems ? 1 : 0);
}
