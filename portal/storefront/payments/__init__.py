"""Taking consumers' money: the provider interface (test gateway, WeChat Pay, Alipay), our
payment records, the append-only ledgers of provider notices and refunds, and the services that
apply a notice once however often it arrives."""
