<?php
/**
 * Minimal stubs of the Joomla 5.x/6.x classes the j5 adapter uses: everything 4.x has (loaded from
 * ../j4) plus the typed user events of Joomla\CMS\Event\User and com_ajax's AjaxEvent, with the
 * real argument names and getters (subject, isNew, savingResult, errorMessage, data,
 * deletingResult, options).
 */
namespace {
    // 5.x's CMSPlugin constructor (5.0 - 5.3 by default; CIVICRMBRIDGE_STUB_JOOMLA=5.4 for 5.4+).
    if (!defined('CIVICRMBRIDGE_STUB_J5')) {
        define('CIVICRMBRIDGE_STUB_J5', true);
    }
    require_once dirname(__DIR__) . '/j4/joomla4.php';
}

namespace Joomla\CMS\Event {
    abstract class AbstractEvent extends \Joomla\Event\Event
    {
    }

    abstract class AbstractImmutableEvent extends AbstractEvent
    {
    }
}

namespace Joomla\CMS\Event\User {
    use Joomla\CMS\Event\AbstractImmutableEvent;

    abstract class UserEvent extends AbstractImmutableEvent
    {
    }

    abstract class AbstractSaveEvent extends UserEvent
    {
        public function getUser(): array
        {
            return $this->arguments['subject'];
        }

        public function getIsNew(): bool
        {
            return (bool) $this->arguments['isNew'];
        }
    }

    class BeforeSaveEvent extends AbstractSaveEvent
    {
        public function getData(): array
        {
            return $this->arguments['data'] ?? [];
        }
    }

    class AfterSaveEvent extends AbstractSaveEvent
    {
        public function __construct($name, array $arguments = [])
        {
            parent::__construct($name, $arguments);
            if (!\array_key_exists('savingResult', $this->arguments)) {
                throw new \BadMethodCallException("Argument 'savingResult' of event {$name} is required but has not been provided");
            }
        }

        public function getSavingResult(): bool
        {
            return $this->arguments['savingResult'];
        }

        public function getErrorMessage(): string
        {
            return $this->arguments['errorMessage'] ?? '';
        }
    }

    abstract class AbstractDeleteEvent extends UserEvent
    {
        public function getUser(): array
        {
            return $this->arguments['subject'];
        }
    }

    class BeforeDeleteEvent extends AbstractDeleteEvent
    {
    }

    class AfterDeleteEvent extends AbstractDeleteEvent
    {
        public function __construct($name, array $arguments = [])
        {
            parent::__construct($name, $arguments);
            if (!\array_key_exists('deletingResult', $this->arguments)) {
                throw new \BadMethodCallException("Argument 'deletingResult' of event {$name} is required but has not been provided");
            }
        }

        public function getDeletingResult(): bool
        {
            return $this->arguments['deletingResult'];
        }

        public function getErrorMessage(): string
        {
            return $this->arguments['errorMessage'] ?? '';
        }
    }

    abstract class AbstractLoginEvent extends UserEvent
    {
        public function getAuthenticationResponse(): array
        {
            return $this->arguments['subject'];
        }

        public function getOptions(): array
        {
            return $this->arguments['options'] ?? [];
        }
    }

    class LoginEvent extends AbstractLoginEvent
    {
    }

    class AfterLoginEvent extends AbstractLoginEvent
    {
    }

    abstract class AbstractLogoutEvent extends UserEvent
    {
        public function getParameters(): array
        {
            return $this->arguments['subject'];
        }

        public function getOptions(): array
        {
            return $this->arguments['options'] ?? [];
        }
    }

    class LogoutEvent extends AbstractLogoutEvent
    {
    }
}

namespace Joomla\CMS\Event\Plugin {
    class AjaxEvent extends \Joomla\CMS\Event\AbstractImmutableEvent
    {
    }
}
