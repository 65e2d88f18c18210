DELETE FROM public.accounts WHERE id = (SELECT nextval('public.bench_delete'));
