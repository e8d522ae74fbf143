<?php
use Civicrm\Plugin\Task\Civicrmbridgeretry\Extension\Civicrmbridgeretry;
use Joomla\Component\Scheduler\Administrator\Task\Status;
use Joomla\Database\DatabaseDriver;
use PHPUnit\Framework\TestCase;

/** The Scheduled Task plugin (4.1+, shipped in the j4 and j5 packages). */
class TaskPluginTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        CivicrmBridgeTestFixture::start();
        CivicrmBridgeTestFixture::installOutbox();
        CivicrmBridgeNsSupport::createExtensionsTable();
    }

    public static function tearDownAfterClass(): void
    {
        CivicrmBridgeTestFixture::stop();
    }

    protected function setUp(): void
    {
        CivicrmBridgeTestFixture::reset();
    }

    private function db()
    {
        return new DatabaseDriver(CivicrmBridgeTestFixture::$pdo, CivicrmBridgeTestFixture::$prefix);
    }

    public function testSubscribesToTheSchedulerEvents()
    {
        $this->assertSame(array(
            'onTaskOptionsList' => 'advertiseRoutines',
            'onExecuteTask' => 'standardRoutineHandler',
            'onContentPrepareForm' => 'enhanceTaskItemForm',
        ), Civicrmbridgeretry::getSubscribedEvents());
        $this->assertContains('Joomla\\Event\\SubscriberInterface', class_implements(Civicrmbridgeretry::class));
    }

    public function testAdvertisesItsRoutine()
    {
        $subject = new class {
            public $options = array();

            public function addOptions(array $o)
            {
                $this->options += $o;
            }
        };
        $dispatcher = new \Joomla\Event\Dispatcher();
        $task = new Civicrmbridgeretry($dispatcher, array('type' => 'task', 'name' => 'civicrmbridgeretry'));
        $task->advertiseRoutines(new \Joomla\Event\Event('onTaskOptionsList', array('subject' => $subject)));
        $this->assertSame(array('civicrmbridge.retry' => 'PLG_TASK_CIVICRMBRIDGERETRY_RETRY'), $subject->options);
        $ini = file_get_contents(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j4/task/language/en-GB/plg_task_civicrmbridgeretry.ini');
        $this->assertStringContainsString('PLG_TASK_CIVICRMBRIDGERETRY_RETRY_TITLE=', $ini);
        $this->assertStringContainsString('PLG_TASK_CIVICRMBRIDGERETRY_RETRY_DESC=', $ini);
    }

    public function testDrainsDueRowsOldestFirstKeepingTheirJti()
    {
        $params = CivicrmBridgeTestFixture::params();
        CivicrmBridgeNsSupport::storeUserPluginParams($params);
        $bridge = new CivicrmBridge_Bridge(new CivicrmBridge_Config($params), new CivicrmBridge_PdoDb(CivicrmBridgeTestFixture::$pdo, 'tst_'));
        CivicrmBridgeTestFixture::insertUser(1, 'a', 'a@example.org', 'A');
        CivicrmBridgeTestFixture::insertUser(2, 'b', 'b@example.org', 'B');
        CivicrmBridgeTestFixture::setMode('500');
        $bridge->handle('onUserAfterSave', array('id' => 1, 'username' => 'a', 'email' => 'a@example.org'), true, true);
        $bridge->handle('onUserAfterSave', array('id' => 2, 'username' => 'b', 'email' => 'b@example.org'), true, true);
        $rows = CivicrmBridgeTestFixture::outboxRows();
        $this->assertCount(2, $rows);
        CivicrmBridgeTestFixture::setMode('200');
        CivicrmBridgeTestFixture::makeOutboxDue();
        file_put_contents(CivicrmBridgeTestFixture::$dir . '/requests.jsonl', '');

        list($task, $status) = CivicrmBridgeNsSupport::runRetryTask($this->db());
        $this->assertSame(Status::OK, $status);
        $this->assertSame(array(array('info', 'delivered 2, failed 0, pending 0')), $task->taskLog);
        $reqs = CivicrmBridgeTestFixture::requests();
        $this->assertCount(2, $reqs);
        $this->assertSame($rows[0]['jti'], CivicrmBridgeTestFixture::claimsOf($reqs[0])['jti']);
        $this->assertSame($rows[1]['jti'], CivicrmBridgeTestFixture::claimsOf($reqs[1])['jti']);
        $this->assertSame(array(), CivicrmBridgeTestFixture::outboxRows());
    }

    public function testBridgeStillDownLeavesRowsPendingAndTheTaskOk()
    {
        $params = CivicrmBridgeTestFixture::params(array('bridge_url' => CivicrmBridgeTestFixture::deadUrl()));
        CivicrmBridgeNsSupport::storeUserPluginParams($params);
        $bridge = new CivicrmBridge_Bridge(new CivicrmBridge_Config($params), new CivicrmBridge_PdoDb(CivicrmBridgeTestFixture::$pdo, 'tst_'));
        CivicrmBridgeTestFixture::insertUser(1, 'a', 'a@example.org', 'A');
        $bridge->handle('onUserAfterSave', array('id' => 1, 'username' => 'a', 'email' => 'a@example.org'), true, true);
        CivicrmBridgeTestFixture::makeOutboxDue();
        list(, $status) = CivicrmBridgeNsSupport::runRetryTask($this->db());
        $this->assertSame(Status::OK, $status);
        $rows = CivicrmBridgeTestFixture::outboxRows();
        $this->assertCount(1, $rows);
        $this->assertSame('pending', $rows[0]['status']);
        $this->assertGreaterThanOrEqual(1, (int) $rows[0]['attempts']);
    }

    public function testUnconfiguredUserPluginMeansNoRun()
    {
        CivicrmBridgeNsSupport::storeUserPluginParams(array());
        list($task, $status) = CivicrmBridgeNsSupport::runRetryTask($this->db());
        $this->assertSame(Status::NO_RUN, $status);
        $this->assertSame('warning', $task->taskLog[0][0]);
    }

    public function testABrokenDatabaseIsAKnockoutNotAnException()
    {
        $db = $this->db();
        $db->broken = true;
        list(, $status) = CivicrmBridgeNsSupport::runRetryTask($db);
        $this->assertSame(Status::KNOCKOUT, $status);
    }

    public function testServiceProviderBuildsTheTaskPlugin()
    {
        $provider = require CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j4/task/services/provider.php';
        $container = new \Joomla\DI\Container();
        $container->set(\Joomla\Event\DispatcherInterface::class, new \Joomla\Event\Dispatcher());
        $container->set(\Joomla\Database\DatabaseInterface::class, $this->db());
        $provider->register($container);
        $this->assertInstanceOf(Civicrmbridgeretry::class, $container->get(\Joomla\CMS\Extension\PluginInterface::class));
    }
}
