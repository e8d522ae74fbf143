<?php
/** CivicrmBridge_Db over PDO, for the cron script and the tests. */
class CivicrmBridge_PdoDb implements CivicrmBridge_Db
{
    private $pdo;
    private $prefix;

    public function __construct(PDO $pdo, $prefix)
    {
        $this->pdo = $pdo;
        $this->prefix = (string) $prefix;
    }

    public function quote($value)
    {
        if ($value === null) {
            return 'NULL';
        }
        return $this->pdo->quote((string) $value);
    }

    public function execute($sql)
    {
        $n = $this->pdo->exec($this->replacePrefix($sql));
        if ($n === false) {
            throw new Exception('SQL error: ' . $this->error());
        }
        return (int) $n;
    }

    public function fetchAll($sql)
    {
        $statement = $this->pdo->query($this->replacePrefix($sql));
        if ($statement === false) {
            throw new Exception('SQL error: ' . $this->error());
        }
        $rows = $statement->fetchAll(PDO::FETCH_ASSOC);
        $statement->closeCursor();
        return is_array($rows) ? $rows : array();
    }

    /**
     * '#__' becomes the prefix outside '...' and "..." strings only, like Joomla's
     * replacePrefix() (so `#__users` is replaced): an event body containing '#__' must be
     * stored unchanged.
     */
    public function replacePrefix($sql)
    {
        $sql = (string) $sql;
        $out = '';
        $n = strlen($sql);
        $quote = null;
        for ($i = 0; $i < $n; $i++) {
            $c = $sql[$i];
            if ($quote !== null) {
                $out .= $c;
                if ($c === '\\' && $i + 1 < $n) {
                    $out .= $sql[++$i];
                } elseif ($c === $quote) {
                    if ($i + 1 < $n && $sql[$i + 1] === $quote) {
                        // A doubled quote is an escaped quote, still inside the string.
                        $out .= $sql[++$i];
                    } else {
                        $quote = null;
                    }
                }
                continue;
            }
            if ($c === "'" || $c === '"') {
                $quote = $c;
                $out .= $c;
            } elseif ($c === '#' && $i + 2 < $n && $sql[$i + 1] === '_' && $sql[$i + 2] === '_') {
                $out .= $this->prefix;
                $i += 2;
            } else {
                $out .= $c;
            }
        }
        return $out;
    }

    private function error()
    {
        $info = $this->pdo->errorInfo();
        return isset($info[2]) ? (string) $info[2] : 'unknown';
    }
}
