<?php

use PHPUnit\Framework\TestCase;

/**
 * CivicrmBridge_JoomlaDb over the two error styles of Joomla 1.6+ drivers: 3.x+ execute() throws,
 * 1.6 - 2.5 query() returns false and getErrorNum()/getErrorMsg() say why. (The adapter suites
 * run it on each generation's stub driver against MariaDB.)
 */
final class JoomlaDbTest extends TestCase
{
    /** A 1.6 - 2.5 driver: query(), no execute(); errors as return values. */
    private function legacyDriver(?array $rows = null, int $errorNum = 0): object
    {
        return new class ($rows, $errorNum) {
            public array $sql = [];

            public function __construct(private ?array $rows, private int $errorNum)
            {
            }

            public function setQuery($sql)
            {
                $this->sql[] = $sql;
                return $this;
            }

            public function query()
            {
                return $this->errorNum === 0;
            }

            public function loadAssocList()
            {
                return $this->rows;
            }

            public function getAffectedRows()
            {
                return 3;
            }

            public function quote($text)
            {
                return "'" . addslashes($text) . "'";
            }

            public function getErrorNum()
            {
                return $this->errorNum;
            }

            public function getErrorMsg()
            {
                return 'Table is missing';
            }
        };
    }

    public function testQuotesAndRunsThroughTheDriver(): void
    {
        $driver = $this->legacyDriver([['id' => '7']]);
        $db = new CivicrmBridge_JoomlaDb($driver);
        $this->assertSame("'it\\'s'", $db->quote("it's"));
        $this->assertSame("'42'", $db->quote(42), 'values are quoted as strings');
        $this->assertSame(3, $db->execute('DELETE FROM #__x'));
        $this->assertSame([['id' => '7']], $db->fetchAll('SELECT id FROM #__users'));
        $this->assertSame(['DELETE FROM #__x', 'SELECT id FROM #__users'], $driver->sql, 'the driver replaces #__');
    }

    public function testALegacyDriverErrorBecomesAnException(): void
    {
        $db = new CivicrmBridge_JoomlaDb($this->legacyDriver(null, 1146));
        try {
            $db->execute('DELETE FROM #__x');
            $this->fail('no exception');
        } catch (RuntimeException $e) {
            $this->assertStringContainsString('Table is missing', $e->getMessage());
        }
        $this->expectException(RuntimeException::class);
        $db->fetchAll('SELECT 1');
    }

    public function testNoRowsWithoutAnErrorIsAnEmptyList(): void
    {
        $this->assertSame([], (new CivicrmBridge_JoomlaDb($this->legacyDriver(null)))->fetchAll('SELECT 1'));
    }

    public function testAThrowingDriverThrowsThrough(): void
    {
        $driver = new class {
            public function setQuery($sql)
            {
                return $this;
            }

            public function execute()
            {
                throw new RuntimeException('Lost connection to MySQL server');
            }
        };
        $this->expectExceptionMessage('Lost connection');
        (new CivicrmBridge_JoomlaDb($driver))->execute('SELECT 1');
    }

    /**
     * 1.5 - 2.5 with debug on: query() raises JError::raiseError(500) on an SQL error, and the
     * default E_ERROR handler renders the error page and exits (here: recorded in $pages). The
     * plugin sets JError to 'ignore' around its statement: no page, a plain exception for the
     * core's catch, and the site's handling put back afterwards.
     */
    public function testADebugModeSqlErrorRaisesNoJErrorPageAndTheHandlingIsPutBack(): void
    {
        $driver = new class () {
            public function setQuery($sql)
            {
            }

            public function query()
            {
                JError::raiseError(500, 'JDatabaseMySQL::query: 1146 - Table is missing'); // debug on
                return false;
            }

            public function loadAssocList()
            {
                $this->query();
                return null;
            }

            public function getErrorNum()
            {
                return 1146;
            }

            public function getErrorMsg()
            {
                return 'Table is missing';
            }
        };
        JError::$handlers = [E_ERROR => ['mode' => 'callback', 'options' => ['JError', 'customErrorPage']], E_WARNING => ['mode' => 'echo']];
        JError::$pages = [];
        $db = new CivicrmBridge_JoomlaDb($driver);
        foreach (['execute', 'fetchAll'] as $method) {
            try {
                $db->$method('SELECT 1 FROM #__civicrm_bridge_outbox');
                $this->fail("$method: an SQL error throws");
            } catch (RuntimeException $e) {
                $this->assertStringContainsString('Table is missing', $e->getMessage());
            }
        }
        $this->assertSame([], JError::$pages, 'no error page was rendered');
        $this->assertSame(['mode' => 'callback', 'options' => ['JError', 'customErrorPage']], JError::$handlers[E_ERROR], 'put back');
        $this->assertSame(['mode' => 'echo'], JError::$handlers[E_WARNING]);
        // Without the guard the same raise would have rendered the page.
        JError::raiseError(500, 'x');
        $this->assertSame(['500 x'], JError::$pages);
    }
}

/** Joomla 1.5 - 2.5's JError, as far as the guard uses it (handlers per level, raiseError). */
class JError
{
    public static array $handlers = [];
    public static array $pages = [];

    public static function getErrorHandling($level)
    {
        return self::$handlers[$level] ?? ['mode' => 'ignore'];
    }

    public static function setErrorHandling($level, $mode, $options = null)
    {
        self::$handlers[$level] = ['mode' => $mode] + ($options === null ? [] : ['options' => $options]);
        return true;
    }

    public static function raiseError($code, $msg)
    {
        if ((self::$handlers[E_ERROR]['mode'] ?? 'callback') === 'callback') {
            self::$pages[] = $code . ' ' . $msg; // the real one renders the error page and exits
        }
        return false;
    }
}
