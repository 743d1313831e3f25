(function(){
  var sel={env:document.getElementById('f-env'),sev:document.getElementById('f-severity'),
           check:document.getElementById('f-check'),status:document.getElementById('f-status')};
  var rows=Array.prototype.slice.call(document.querySelectorAll('#findings tbody tr'));
  var shown=document.getElementById('shown');
  function apply(){
    var n=0;
    rows.forEach(function(r){
      var ok=(!sel.env.value||r.dataset.env===sel.env.value)&&
             (!sel.sev.value||r.dataset.severity===sel.sev.value)&&
             (!sel.check.value||r.dataset.check===sel.check.value)&&
             (!sel.status.value||r.dataset.status===sel.status.value);
      r.hidden=!ok; if(ok){n++;}
    });
    shown.textContent=n+' of '+rows.length+' shown';
  }
  Object.keys(sel).forEach(function(k){sel[k].addEventListener('change',apply);});
  document.querySelectorAll('#matrix td.cell').forEach(function(td){
    td.addEventListener('click',function(){
      if(td.classList.contains('w-none')){return;}
      sel.env.value=td.dataset.env; sel.check.value=td.dataset.check;
      sel.sev.value=''; sel.status.value=''; apply();
      document.getElementById('findings').scrollIntoView();
    });
  });
  document.getElementById('f-reset').addEventListener('click',function(){
    Object.keys(sel).forEach(function(k){sel[k].value='';}); apply();
  });
  apply();
})();
