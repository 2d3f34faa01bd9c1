int tq_handlers_placeholder = 0;
