<?php

use PHPUnit\Framework\TestCase;

require_once dirname(__DIR__) . '/php52-syntax-check.php';

/** The core (and the Joomla 1.5 adapter) stay PHP 5.2 syntax; the checker does catch what it must. */
final class Php52SyntaxTest extends TestCase
{
    public function testCoreIsPhp52Syntax(): void
    {
        $core = dirname(__DIR__, 2) . '/core';
        $this->assertSame([], php52_check_paths([$core]));
        // Not vacuous: every core file was read.
        $files = glob("$core/*.php");
        $this->assertGreaterThanOrEqual(14, count($files));
    }

    public function testJoomla15AdapterIsPhp52Syntax(): void
    {
        $j15 = dirname(__DIR__, 2) . '/adapters/j15';
        if (!is_dir($j15)) {
            $this->markTestSkipped('adapters/j15 does not exist (yet)');
        }
        $this->assertSame([], php52_check_paths([$j15]));
    }

    public static function modernSamples(): array
    {
        return [
            'namespace' => ['namespace Foo;', 'namespace'],
            'qualified name' => ['$x = new \Foo\Bar();', 'namespaced name'],
            'fully qualified' => ['throw new \Exception("x");', 'namespaced name'],
            'closure' => ['$f = function ($a) { return $a; };', 'closure'],
            'closure by reference' => ['$f = function &() { static $a; return $a; };', 'closure'],
            'closure use' => ['$f = function () use ($x) { return $x; };', 'closure'],
            'static closure' => ['$f = static function () { return 1; };', 'static closure'],
            'arrow fn' => ['$f = fn ($a) => $a;', 'fn'],
            'short array' => ['$a = [1, 2];', 'short array'],
            'short array argument' => ['foo([1]);', 'short array'],
            'short array destructuring' => ['[$a, $b] = $c;', 'short array'],
            'call dereference' => ['$a = foo()[0];', 'dereference'],
            'constant dereference' => ['$a = FOO[0];', 'constant dereference'],
            '::class' => ['$c = Foo::class;', '::class'],
            'static::' => ['class A { function f() { return static::g(); } }', 'late static binding'],
            '$var::' => ['$c::f();', 'dynamic class name'],
            '??' => ['$a = $b ?? 1;', '??'],
            '??=' => ['$a ??= 1;', '??='],
            '?->' => ['$a = $b?->c;', '?->'],
            'variadic' => ['function f(...$a) {}', '...'],
            'unpacking' => ['f(...$a);', '...'],
            'yield' => ['function g() { yield 1; }', 'yield'],
            'trait' => ['trait T {}', 'trait'],
            'trait use' => ['class A { use T; }', 'use'],
            'finally' => ['try { f(); } catch (Exception $e) { } finally { g(); }', 'finally'],
            'goto' => ['goto end; end: f();', 'goto'],
            '__DIR__' => ['require __DIR__ . "/x.php";', '__DIR__'],
            '__NAMESPACE__' => ['$n = __NAMESPACE__;', '__NAMESPACE__'],
            'scalar param type' => ['function f(int $a) {}', 'scalar type'],
            'string param type by ref' => ['function f(string &$a) {}', 'scalar type'],
            'nullable param type' => ['function f(?Foo $a) {}', 'nullable'],
            'union param type' => ['function f(Foo|Bar $a) {}', 'union'],
            'callable type' => ['function f(callable $a) {}', 'callable'],
            'return type' => ['function f() : array { return array(); }', 'return type'],
            'method return type' => ['class A { public function f(): void {} }', 'return type'],
            'promotion' => ['class A { function __construct(private $a) {} }', 'promotion'],
            'top-level use' => ['use Foo\Bar;', 'use'],
            'new X()->' => ['$a = new Foo()->bar();', 'member access on instantiation'],
            '(new X)->' => ['$a = (new Foo)->bar();', 'member access on instantiation'],
            '(new X())->' => ['$a = (new Foo(1, 2))->bar();', 'member access on instantiation'],
            'top-level const' => ['const FOO = 1;', 'const outside'],
            'nowdoc' => ["\$a = <<<'EOT'\ntext\nEOT;\n", 'nowdoc'],
            'quoted heredoc' => ["\$a = <<<\"EOT\"\ntext\nEOT;\n", 'heredoc'],
            'binary literal' => ['$a = 0b1010;', 'binary'],
            'numeric separator' => ['$a = 1_000;', 'separator'],
            '**' => ['$a = 2 ** 3;', '**'],
            '**=' => ['$a **= 3;', '**='],
            'short ternary' => ['$a = $b ?: 1;', 'short ternary'],
            'spaceship' => ['$a = $b <=> $c;', '<=>'],
            'match' => ['$a = match ($b) { 1 => 2 };', 'match'],
            'anonymous class' => ['$a = new class {};', 'anonymous class'],
            'attribute' => ["#[Attr]\nfunction f() {}", 'attribute'],
            'strict types' => ['declare(strict_types=1);', 'strict_types'],
            'enum' => ['enum Suit { case Hearts; }', 'enum'],
            'readonly' => ['class A { public readonly int $a; }', 'readonly'],
        ];
    }

    /** @dataProvider modernSamples */
    public function testCatchesEachModernConstruct(string $code, string $expected): void
    {
        $problems = php52_check_source("<?php\n" . $code . "\n");
        $messages = array_column($problems, 1);
        $this->assertNotEmpty($messages, "not caught: $code");
        $this->assertStringContainsString($expected, implode(' | ', $messages), $code);
    }

    public function testAcceptsValidPhp52Code(): void
    {
        $code = <<<'PHP'
            <?php
            /** A doc comment with [brackets], fn, yield and function () in it. */
            // function () { [1]; } $a ?? $b
            interface I { public function f($a); }
            abstract class A implements I
            {
                const LIMIT = 10;
                private static $map = array('a' => 1, 'b' => array(2, 3));
                public static function make(array $x = array(), I $i = null, $d = self::LIMIT, $e = PHP_EOL)
                {
                    $y = $x['a'] ? $x['a'] : 0;
                    $s = "value $x[a] {$x['b']} ${y}";
                    $t = 'function () use [] ?? ::class';
                    $o = new stdClass();
                    $o->list = array();
                    $o->list[] = 1;
                    $z = $o->list[0] + self::$map['a'] + $s{0};
                    $w = A::$map['b'][1];
                    $cb = array('A', 'make');
                    $r = call_user_func($cb);
                    try { throw new Exception('x'); } catch (Exception $e) { } catch (Throwable $e) { }
                    $h = <<<EOT
            heredoc [1] ?? function () {}
            EOT;
                    return $y === null ? $z : -$w;
                }
                abstract protected function g(&$ref, $n = -1);
                final public static function h() { return new A_B(); }
            }
            function helper($a, &$b) { static $cache = array(); $cache[$a] = $b; return $cache; }
            if (!class_exists('X', false)) { require_once dirname(__FILE__) . '/x.php'; }
            $v = (int) '5' . PHP_VERSION . E_ALL;
            PHP;
        $this->assertSame([], php52_check_source($code));
    }

    public function testCommandLine(): void
    {
        $dir = sys_get_temp_dir() . '/cbp-syntax-' . bin2hex(random_bytes(4));
        mkdir($dir);
        try {
            file_put_contents("$dir/ok.php", "<?php\n\$a = array(1);\n");
            file_put_contents("$dir/bad.php", "<?php\n\$a = array(1);\n\$b = [2];\n");
            $run = function (string $path): array {
                $proc = proc_open([PHP_BINARY, dirname(__DIR__) . '/php52-syntax-check.php', $path], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
                $out = stream_get_contents($pipes[1]);
                return [proc_close($proc), $out];
            };
            $this->assertSame([0, ''], $run("$dir/ok.php"));
            [$code, $out] = $run($dir);
            $this->assertSame(1, $code);
            $this->assertSame("$dir/bad.php:3: short array syntax [ ] (5.4)\n", $out);
        } finally {
            array_map('unlink', glob("$dir/*.php"));
            rmdir($dir);
        }
    }
}
